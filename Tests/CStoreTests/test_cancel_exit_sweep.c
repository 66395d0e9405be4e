// SPDX-License-Identifier: Apache-2.0
// Regression: a thread cancelled (deferred) at a cancellation point inside a
// value's destructor during its exit sweep. The store runs the sweep with
// cancellation disabled, so the destructor returns and the sweep goes on:
// every value is destroyed exactly once, the slot's destroy returns, and its
// number is reused (no in-flight call is left counted). glibc acts on
// cancellation inside key destructors; musl does not, so there the test shows
// nothing. A hang fails through alarm().
#include "check.h"

static ctl_slot cancelled_slot, later_slot;
static atomic_int cancelled_calls, later_calls, in_destructor, cancel_sent;

static void cancel_point_destructor(ctl_value value, void *context) {
    (void)value;
    (void)context;
    atomic_fetch_add(&cancelled_calls, 1);
    atomic_store(&in_destructor, 1);
    while (!atomic_load(&cancel_sent)) sleep_ns(100000);
    pthread_testcancel();  // a cancellation point, with a request pending
}

static void *body(void *arg) {
    (void)arg;
    CHECK(ctl_set_uword(cancelled_slot, 1));
    CHECK(ctl_set_uword(later_slot, 2));  // swept after the cancelled one
    return NULL;
}

int main(void) {
    alarm(30);
    size_t live_before = ctl_get_stats().live_slots;
    cancelled_slot = make_slot(cancel_point_destructor, NULL);
    later_slot = make_slot(count_call, &later_calls);
    REQUIRE(cancelled_slot.index < later_slot.index);
    pthread_t thread = start_thread(body, NULL);
    while (!atomic_load(&in_destructor)) sleep_ns(100000);
    CHECK_EQ(pthread_cancel(thread), 0);
    atomic_store(&cancel_sent, 1);
    join_thread(thread);
    CHECK_EQ(atomic_load(&cancelled_calls), 1);
    CHECK_EQ(atomic_load(&later_calls), 1);  // the sweep went on
    uint32_t number = cancelled_slot.index;
    CHECK_EQ(ctl_slot_destroy(cancelled_slot), CTL_OK);
    CHECK_EQ(ctl_slot_destroy(later_slot), CTL_OK);
    CHECK_EQ(atomic_load(&cancelled_calls), 1);
    CHECK_EQ(atomic_load(&later_calls), 1);
    CHECK_EQ(ctl_get_stats().live_slots, live_before);
    // The number came back: no destructor call of it is still counted.
    ctl_slot again = make_slot(NULL, NULL);
    CHECK_EQ(again.index, number);
    CHECK_EQ(ctl_slot_destroy(again), CTL_OK);
    return finish("cancel_exit_sweep");
}
