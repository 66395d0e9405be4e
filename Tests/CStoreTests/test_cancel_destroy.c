// SPDX-License-Identifier: Apache-2.0
// Regression: a thread cancelled (deferred) inside ctl_slot_destroy while it
// runs destructors: 10 threads hold values, and the 3rd destructor call
// reaches a cancellation point with a request pending. The store runs the
// destroy with cancellation disabled, so all 10 values are destroyed, the
// slot is gone (live_slots back) and its number is reused; the request is
// acted upon at the destroyer's next cancellation point, after the store
// returned. A hang fails through alarm().
#include "check.h"

enum { holders = 10 };

static ctl_slot slot;
static tally counts;
static barrier stored;
static atomic_int calls, at_third, cancel_sent, release_holders, destroy_returned;

static void destructor(ctl_value value, void *context) {
    count_value(value, context);
    if (atomic_fetch_add(&calls, 1) + 1 != 3) return;
    atomic_store(&at_third, 1);
    while (!atomic_load(&cancel_sent)) sleep_ns(100000);
    pthread_testcancel();  // a cancellation point, with a request pending
}

static void *holder(void *arg) {
    CHECK(ctl_set_uword(slot, (uintptr_t)arg));
    barrier_wait(&stored);
    while (!atomic_load(&release_holders)) sleep_ns(100000);
    return NULL;
}

static void *destroyer(void *arg) {
    (void)arg;
    CHECK_EQ(ctl_slot_destroy(slot), CTL_OK);
    atomic_store(&destroy_returned, 1);
    pthread_testcancel();  // the pending request acts here
    return NULL;
}

int main(void) {
    alarm(30);
    tally_init(&counts, holders);
    size_t live_before = ctl_get_stats().live_slots;
    slot = make_slot(destructor, &counts);
    uint32_t number = slot.index;
    barrier_init(&stored, holders + 1);
    pthread_t threads[holders];
    for (int i = 0; i < holders; i++) threads[i] = start_thread(holder, (void *)(uintptr_t)i);
    barrier_wait(&stored);
    pthread_t d = start_thread(destroyer, NULL);
    while (!atomic_load(&at_third)) sleep_ns(100000);
    CHECK_EQ(pthread_cancel(d), 0);
    atomic_store(&cancel_sent, 1);
    void *result = NULL;
    CHECK_EQ(pthread_join(d, &result), 0);
    CHECK(result == PTHREAD_CANCELED);
    CHECK_EQ(atomic_load(&destroy_returned), 1);
    printf("destructor calls: %d of %d values\n", atomic_load(&counts.total), holders);
    CHECK_EQ(atomic_load(&counts.total), holders);
    CHECK_HITS(&counts, 0, holders, 1);
    CHECK_EQ(ctl_get_stats().live_slots, live_before);
    ctl_slot again = make_slot(NULL, NULL);
    CHECK_EQ(again.index, number);
    CHECK_EQ(ctl_slot_destroy(again), CTL_OK);
    atomic_store(&release_holders, 1);
    for (int i = 0; i < holders; i++) join_thread(threads[i]);
    CHECK_EQ(atomic_load(&counts.total), holders);  // not again at their exit
    barrier_destroy(&stored);
    tally_free(&counts);
    return finish("cancel_destroy");
}
