// SPDX-License-Identifier: Apache-2.0
// Destructors that use the store while a thread exits or a slot is destroyed:
// - a destructor that stores into its own slot and into slots below and above
//   it: every stored value is destroyed, once, on the exiting thread;
// - a destructor that destroys its own slot (at thread exit, and from inside
//   ctl_slot_destroy, where the second destroy is refused).
// A destructor that destroys another slot the thread holds is
// test_exit_destroys_other_slot.c.
#include "check.h"

// --- Stores from destructors ----------------------------------------------

static ctl_slot low, mid, high;
static tally store_counts;
static _Thread_local int on_exiting_thread;
static atomic_int off_thread;

// Values: 0 = mid's first, 1 = mid's re-stored, 2 = low's, 3 = high's,
// 4 = high's second (stored by high's destructor of 3), plus 5 per thread.
static void restore(ctl_value value, void *context) {
    if (!on_exiting_thread) atomic_fetch_add(&off_thread, 1);
    uintptr_t base = value.uword - value.uword % 5;
    switch (value.uword % 5) {
    case 0:
        CHECK(!ctl_has_value(mid));  // taken out for this call
        // Own slot (already passed by the sweep), a lower slot (passed) and a
        // higher one (not yet reached).
        CHECK(ctl_set_uword(mid, base + 1));
        CHECK(ctl_set_uword(low, base + 2));
        CHECK(ctl_set_uword(high, base + 3));
        break;
    case 3:
        CHECK(ctl_set_uword(high, base + 4));  // own slot again, one round later
        break;
    default:
        break;
    }
    count_value(value, context);
}

static void *store_body(void *arg) {
    uintptr_t base = (uintptr_t)arg * 5;
    on_exiting_thread = 1;
    CHECK(ctl_set_uword(mid, base));
    return NULL;
}

static void stores_from_destructors(void) {
    enum { threads = 8 };
    tally_init(&store_counts, threads * 5);
    low = make_slot(restore, &store_counts);
    mid = make_slot(restore, &store_counts);
    high = make_slot(restore, &store_counts);
    REQUIRE(low.index < mid.index && mid.index < high.index);
    pthread_t t[threads];
    for (int i = 0; i < threads; i++) t[i] = start_thread(store_body, (void *)(uintptr_t)i);
    for (int i = 0; i < threads; i++) join_thread(t[i]);
    CHECK_HITS(&store_counts, 0, threads * 5, 1);
    CHECK_EQ(atomic_load(&off_thread), 0);
    int total = atomic_load(&store_counts.total);
    CHECK_EQ(ctl_slot_destroy(low), CTL_OK);
    CHECK_EQ(ctl_slot_destroy(mid), CTL_OK);
    CHECK_EQ(ctl_slot_destroy(high), CTL_OK);
    CHECK_EQ(atomic_load(&store_counts.total), total);
    tally_free(&store_counts);
}

// --- A destructor that destroys its own slot ------------------------------

static ctl_slot self_slot;
static atomic_int self_calls, self_destroy_ok, self_destroy_einval;

static void destroy_self(ctl_value value, void *context) {
    (void)value;
    (void)context;
    atomic_fetch_add(&self_calls, 1);
    int rc = ctl_slot_destroy(self_slot);
    if (rc == CTL_OK) atomic_fetch_add(&self_destroy_ok, 1);
    else if (rc == CTL_EINVAL) atomic_fetch_add(&self_destroy_einval, 1);
}

static ctl_slot other_slot;
static tally other_counts;

static void *self_body(void *arg) {
    (void)arg;
    CHECK(ctl_set_uword(self_slot, 1));
    CHECK(ctl_set_uword(other_slot, 0));
    return NULL;
}

static void destructor_destroys_own_slot(void) {
    tally_init(&other_counts, 1);
    other_slot = make_slot(count_value, &other_counts);

    // At thread exit.
    self_slot = make_slot(destroy_self, NULL);
    join_thread(start_thread(self_body, NULL));
    CHECK_EQ(atomic_load(&self_calls), 1);
    CHECK_EQ(atomic_load(&self_destroy_ok), 1);
    CHECK(!ctl_slot_is_live(self_slot));
    CHECK_EQ(atomic_load(&other_counts.total), 1);  // the sweep went on
    // The number is usable again.
    ctl_slot again = make_slot(NULL, NULL);
    CHECK(ctl_set_uword(again, 3));
    CHECK_EQ(ctl_slot_destroy(again), CTL_OK);

    // From inside ctl_slot_destroy on a running thread: the inner destroy is
    // refused (the slot is already being destroyed) and nothing waits.
    self_slot = make_slot(destroy_self, NULL);
    CHECK(ctl_set_uword(self_slot, 2));
    CHECK_EQ(ctl_slot_destroy(self_slot), CTL_OK);
    CHECK_EQ(atomic_load(&self_calls), 2);
    CHECK_EQ(atomic_load(&self_destroy_einval), 1);
    CHECK(!ctl_slot_is_live(self_slot));

    CHECK_EQ(ctl_slot_destroy(other_slot), CTL_OK);
    tally_free(&other_counts);
}

int main(void) {
    stores_from_destructors();
    destructor_destroys_own_slot();
    CHECK_EQ(ctl_get_stats().live_slots, 0);
    return finish("reentrant");
}
