// SPDX-License-Identifier: Apache-2.0
// A registered thread's own operations on a live slot take no mutex (counted
// by the store built with CTL_TESTING): a first store, a store after
// ctl_take, lazy initialisation and take, for a slot in the lanes and one in
// a chunk. The emptied entry holds no value for anyone: the
// slot reads as empty, its destroy and the thread's exit destroy nothing for
// it, a stale handle still cannot store after a destroy, and the number's next
// slot starts empty.
#include "check.h"

static tally destroyed;

static void *take_and_exit(void *arg) {
    ctl_slot slot = *(ctl_slot *)arg;
    CHECK(ctl_set_uword(slot, 1));
    CHECK(ctl_take(slot, NULL));
    return NULL;
}

static void *take_store_again_and_exit(void *arg) {
    ctl_slot slot = *(ctl_slot *)arg;
    CHECK(ctl_set_uword(slot, 1));
    CHECK(ctl_take(slot, NULL));
    CHECK(ctl_set_uword(slot, 2));
    return NULL;
}

// Every operation of a registered thread on its own entry of a live slot
// takes no mutex: the first store, a store after a take, lazy initialisation
// (begun, finished, cancelled), and take; on the main thread, which
// registered with its first store anywhere (the caller's `register_main`).
static void check_slot(ctl_slot s) {
    size_t acquired = ctl__test_mutex_acquisitions();
    CHECK(ctl_set_uword(s, 1));  // the thread's first store in the slot
    ctl_value taken;
    CHECK(ctl_take(s, &taken));
    CHECK_EQ(taken.uword, 1);
    CHECK(!ctl_has_value(s));
    CHECK_EQ(ctl_get_uword(s), 0);
    CHECK(!ctl_take(s, NULL));
    CHECK(ctl_set_uword(s, 2));  // again, after take
    CHECK_EQ(ctl_get_uword(s), 2);
    CHECK(ctl_set_uword(s, 3));  // an overwrite: inline
    CHECK(ctl_take(s, NULL));
    CHECK_EQ(ctl_begin_initialization(s), CTL_OK);  // lazy initialisation after take
    CHECK(!ctl_has_value(s));
    CHECK_EQ(ctl_begin_initialization(s), CTL_EBUSY);
    CHECK(ctl_finish_initialization(s, (ctl_value){.uword = 3}));
    CHECK_EQ(ctl_get_uword(s), 3);
    CHECK(ctl_take(s, NULL));
    CHECK_EQ(ctl_begin_initialization(s), CTL_OK);
    ctl_cancel_initialization(s);
    CHECK(!ctl_has_value(s));
    CHECK(!ctl_finish_initialization(s, (ctl_value){.uword = 9}));
    CHECK_EQ(ctl_begin_initialization(s), CTL_OK);  // the initialiser stores itself
    CHECK(ctl_set_uword(s, 8));
    CHECK(!ctl_finish_initialization(s, (ctl_value){.uword = 9}));
    CHECK_EQ(ctl_get_uword(s), 8);
    CHECK(ctl_take(s, NULL));
    CHECK(ctl_set_uword(s, 4));
    CHECK(ctl_slot_is_live(s));
    CHECK_EQ(ctl__test_mutex_acquisitions(), acquired);
    CHECK(ctl_take(s, NULL));
    CHECK(!ctl_has_value(s));

    // The slot is destroyed after the thread took its value: nothing to
    // destroy, and the stale handle cannot store.
    int before = atomic_load(&destroyed.total);
    CHECK_EQ(ctl_slot_destroy(s), CTL_OK);
    CHECK_EQ(atomic_load(&destroyed.total), before);
    CHECK(!ctl_set_uword(s, 5));
    CHECK(!ctl_has_value(s));
    // The number's next slot starts empty, and the stale handle stays refused.
    ctl_slot next = make_slot(count_value, &destroyed);
    CHECK_EQ(next.index, s.index);
    CHECK(!ctl_has_value(next));
    CHECK(ctl_set_uword(next, 6));
    CHECK(!ctl_set_uword(s, 7));
    CHECK_EQ(ctl_get_uword(next), 6);

    // A thread's exit destroys nothing for a taken value, and destroys a
    // value stored after a take.
    before = atomic_load(&destroyed.total);
    int twos = atomic_load(&destroyed.hits[2]);
    join_thread(start_thread(take_and_exit, &next));
    CHECK_EQ(atomic_load(&destroyed.total), before);
    join_thread(start_thread(take_store_again_and_exit, &next));
    CHECK_EQ(atomic_load(&destroyed.total), before + 1);
    CHECK_EQ(atomic_load(&destroyed.hits[2]), twos + 1);
    CHECK(ctl_take(next, NULL));
    CHECK_EQ(ctl_slot_destroy(next), CTL_OK);
}

int main(void) {
    tally_init(&destroyed, 16);
    ctl_slot first = make_slot(NULL, NULL);  // registers the main thread
    CHECK(ctl_set_uword(first, 1));
    check_slot(make_slot(count_value, &destroyed));
    // A slot beyond the lanes.
    ctl_slot fillers[CTL_LANE_COUNT];
    for (int i = 0; i < CTL_LANE_COUNT; i++) fillers[i] = make_slot(NULL, NULL);
    ctl_slot chunked = make_slot(count_value, &destroyed);
    CHECK(chunked.index >= CTL_LANE_COUNT);
    check_slot(chunked);
    for (int i = 0; i < CTL_LANE_COUNT; i++) CHECK_EQ(ctl_slot_destroy(fillers[i]), CTL_OK);
    CHECK_EQ(ctl_slot_destroy(first), CTL_OK);
    tally_free(&destroyed);
    return finish("store_after_take");
}
