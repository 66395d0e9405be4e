// SPDX-License-Identifier: Apache-2.0
// The C API of CThreadLocals from plain C, through `#include`.
//
// Each thread keeps its own scratch buffer and its own call counter in two
// slots. Destructors free the buffers when each thread exits, and
// `ctl_slot_destroy` frees the values of threads that are still running.
//
// Build it without SwiftPM, from the repository root (one line):
//
//     cc -std=c11 -O2 -I include -pthread -o slots
//         Examples/C/slots.c Sources/CThreadLocals/CThreadLocals.c
//
// It prints one line per thread and a summary; it exits non-zero on failure.

#include <CThreadLocals.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

enum { THREADS = 4, CALLS = 1000, BUFFER_SIZE = 4096 };

static ctl_slot buffer_slot;   // void *: this thread's scratch buffer
static ctl_slot counter_slot;  // int64_t: calls made on this thread
static atomic_int buffers_made;
static atomic_int buffers_freed;

static void free_buffer(ctl_value value, void *context) {
    (void)context;
    free(value.ptr);
    atomic_fetch_add(&buffers_freed, 1);
}

// This thread's buffer, allocated on its first call.
static char *scratch_buffer(void) {
    char *buffer = ctl_get_ptr(buffer_slot);  // a few inline instructions
    if (buffer == NULL) {
        buffer = malloc(BUFFER_SIZE);
        if (buffer == NULL || !ctl_set_ptr(buffer_slot, buffer)) abort();
        atomic_fetch_add(&buffers_made, 1);
    }
    return buffer;
}

static int work(int input) {
    char *buffer = scratch_buffer();
    int length = snprintf(buffer, BUFFER_SIZE, "call %d", input);
    ctl_set_i64(counter_slot, ctl_get_i64(counter_slot) + 1);
    return length;
}

static void *thread_main(void *argument) {
    long index = (long)argument;
    for (int call = 0; call < CALLS; call++) work(call);
    printf("thread %ld: %lld calls, one buffer\n", index, (long long)ctl_get_i64(counter_slot));
    return NULL;  // the thread's buffer is freed as it exits
}

int main(void) {
    if (ctl_slot_create(&buffer_slot, free_buffer, NULL) != CTL_OK) return 1;
    if (ctl_slot_create(&counter_slot, NULL, NULL) != CTL_OK) return 1;

    pthread_t threads[THREADS];
    for (long index = 0; index < THREADS; index++) {
        if (pthread_create(&threads[index], NULL, thread_main, (void *)index) != 0) return 1;
    }
    for (int index = 0; index < THREADS; index++) pthread_join(threads[index], NULL);

    work(0);  // the main thread's own buffer: still alive here
    int freed_before_destroy = atomic_load(&buffers_freed);
    ctl_slot_destroy(buffer_slot);  // frees the main thread's buffer too
    ctl_slot_destroy(counter_slot);

    int made = atomic_load(&buffers_made), freed = atomic_load(&buffers_freed);
    printf("buffers: %d made, %d freed at thread exit, %d freed in all\n", made, freed_before_destroy, freed);
    if (made != THREADS + 1 || freed_before_destroy != THREADS || freed != made) {
        fprintf(stderr, "unexpected buffer counts\n");
        return 1;
    }
    printf("ok\n");
    return 0;
}
