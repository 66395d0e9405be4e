// SPDX-License-Identifier: Apache-2.0
// Regression: ctl_slot_destroy of a slot held by 100 threads, with a slow
// destructor (2 ms), while the threads are released to exit during the
// destroy. Every value must be destroyed exactly once (none dropped by an
// exiting thread that finds its slot dead), and all of them by the time
// ctl_slot_destroy returns.
#include "check.h"

enum { thread_count = 100 };

static ctl_slot slot;
static tally counts;
static barrier stored;
static atomic_int released;

static void slow_destructor(ctl_value value, void *context) {
    atomic_store(&released, 1);  // the threads may exit now
    sleep_ns(2000000);
    count_value(value, context);
}

static void *body(void *arg) {
    CHECK(ctl_set_uword(slot, (uintptr_t)arg));
    barrier_wait(&stored);
    while (!atomic_load(&released)) sleep_ns(50000);
    return NULL;
}

int main(void) {
    tally_init(&counts, thread_count);
    slot = make_slot(slow_destructor, &counts);
    barrier_init(&stored, thread_count + 1);
    pthread_t threads[thread_count];
    for (int t = 0; t < thread_count; t++) threads[t] = start_thread(body, (void *)(uintptr_t)t);
    barrier_wait(&stored);
    CHECK_EQ(ctl_slot_destroy(slot), CTL_OK);
    int at_return = atomic_load(&counts.total);
    for (int t = 0; t < thread_count; t++) join_thread(threads[t]);
    barrier_destroy(&stored);
    printf("destructor calls: %d when destroy returned, %d after the joins (expected %d)\n", at_return,
           atomic_load(&counts.total), thread_count);
    CHECK_EQ(at_return, thread_count);
    CHECK_EQ(atomic_load(&counts.total), thread_count);
    CHECK_HITS(&counts, 0, thread_count, 1);
    tally_free(&counts);
    return finish("destroy_during_exits");
}
