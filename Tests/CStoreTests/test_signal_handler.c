// SPDX-License-Identifier: Apache-2.0
// A signal handler may read and write a value its thread already holds (the
// fast path), while the interrupted thread is inside the store's slow paths:
// storing in new slots beyond the lanes, so that its chunk directory
// grows (replaced and freed) again and again under the handler. The handler
// increments the thread's value in an inline slot and in a chunk slot; every
// increment must be there at the end, and no handler may read freed memory
// (AddressSanitizer run). The values are words, which a handler sees whole on
// every target (see the header's "Accessors").
#include "check.h"

#include <sys/time.h>

static ctl_slot inline_slot, chunk_slot;
static volatile sig_atomic_t handled, missing;

static void on_alarm(int signal) {
    (void)signal;
    ctl_value *a = ctl_value_pointer(inline_slot);
    ctl_value *b = ctl_value_pointer(chunk_slot);
    if (a == NULL || b == NULL) {
        missing = missing + 1;
        return;
    }
    a->uword += 1;
    b->uword += 1;
    handled = handled + 1;
}

enum { batch = 2048 };

// One round on a new thread: the thread's chunk directory starts empty and
// doubles several times while the handler runs.
static void *round_on_new_thread(void *arg) {
    (void)arg;
    handled = 0;
    missing = 0;
    CHECK(ctl_set_uword(inline_slot, 0));
    CHECK(ctl_set_uword(chunk_slot, 0));
    sigset_t alarm_only;
    sigemptyset(&alarm_only);
    sigaddset(&alarm_only, SIGALRM);
    pthread_sigmask(SIG_UNBLOCK, &alarm_only, NULL);
    static ctl_slot made[batch];
    for (int i = 0; i < batch; i++) {
        CHECK_EQ(ctl_slot_create(&made[i], NULL, NULL), CTL_OK);
        CHECK(ctl_set_uword(made[i], (uintptr_t)i));
    }
    for (int i = 0; i < batch; i++) CHECK_EQ(ctl_slot_destroy(made[i]), CTL_OK);
    pthread_sigmask(SIG_BLOCK, &alarm_only, NULL);
    CHECK_EQ(missing, 0);
    CHECK_EQ(ctl_get_uword(inline_slot), (uintptr_t)handled);
    CHECK_EQ(ctl_get_uword(chunk_slot), (uintptr_t)handled);
    return (void *)(intptr_t)handled;
}

int main(void) {
    int small = getenv("CTL_TEST_SMALL") != NULL;
    CHECK_EQ(ctl_slot_create(&inline_slot, NULL, NULL), CTL_OK);
    // Fill the lanes so that the next slot lives in a chunk.
    ctl_slot fillers[CTL_LANE_COUNT];
    for (int i = 0; i < CTL_LANE_COUNT; i++) CHECK_EQ(ctl_slot_create(&fillers[i], NULL, NULL), CTL_OK);
    CHECK_EQ(ctl_slot_create(&chunk_slot, NULL, NULL), CTL_OK);
    CHECK(chunk_slot.index >= CTL_LANE_COUNT);

    // Only the round's thread takes the signal.
    sigset_t alarm_only;
    sigemptyset(&alarm_only);
    sigaddset(&alarm_only, SIGALRM);
    pthread_sigmask(SIG_BLOCK, &alarm_only, NULL);
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = on_alarm;
    sigemptyset(&action.sa_mask);
    CHECK_EQ(sigaction(SIGALRM, &action, NULL), 0);
    struct itimerval every = {{0, 100}, {0, 100}};  // every 100 µs
    CHECK_EQ(setitimer(ITIMER_REAL, &every, NULL), 0);

    long total = 0;
    int rounds = small ? 10 : 100;
    for (int round = 0; round < rounds; round++) {
        pthread_t thread;
        void *result;
        CHECK_EQ(pthread_create(&thread, NULL, round_on_new_thread, NULL), 0);
        CHECK_EQ(pthread_join(thread, &result), 0);
        total += (long)(intptr_t)result;
    }

    struct itimerval off = {{0, 0}, {0, 0}};
    CHECK_EQ(setitimer(ITIMER_REAL, &off, NULL), 0);
    printf("signal_handler: %ld handler runs over %d threads, every increment kept\n", total, rounds);
    CHECK(total > 0);
    for (int i = 0; i < CTL_LANE_COUNT; i++) CHECK_EQ(ctl_slot_destroy(fillers[i]), CTL_OK);
    CHECK_EQ(ctl_slot_destroy(inline_slot), CTL_OK);
    CHECK_EQ(ctl_slot_destroy(chunk_slot), CTL_OK);
    return finish("signal_handler");
}
