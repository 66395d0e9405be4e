// SPDX-License-Identifier: Apache-2.0
// A store after ctl_take takes the store's mutex, like a first store: the
// take empties the entry, so the slot's liveness is checked again (counted by
// the store: CTL_TESTING's stores that took the mutex), for a slot in the
// lanes and one in a chunk. The emptied entry holds no value for anyone: the
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

static void check_slot(ctl_slot s) {
    size_t locked = ctl__test_locked_stores();
    CHECK(ctl_set_uword(s, 1));  // the thread's first store in the slot
    CHECK_EQ(ctl__test_locked_stores(), locked + 1);
    ctl_value taken;
    CHECK(ctl_take(s, &taken));
    CHECK_EQ(taken.uword, 1);
    CHECK(!ctl_has_value(s));
    CHECK_EQ(ctl_get_uword(s), 0);
    CHECK(!ctl_take(s, NULL));
    CHECK(ctl_set_uword(s, 2));  // again, after take: the mutex again
    CHECK_EQ(ctl__test_locked_stores(), locked + 2);
    CHECK_EQ(ctl_get_uword(s), 2);
    CHECK(ctl_set_uword(s, 3));  // an overwrite: inline, no mutex
    CHECK_EQ(ctl__test_locked_stores(), locked + 2);
    CHECK(ctl_take(s, NULL));
    CHECK_EQ(ctl_begin_initialization(s), CTL_OK);  // lazy initialisation after take
    CHECK(!ctl_has_value(s));
    CHECK(ctl_finish_initialization(s, (ctl_value){.uword = 3}));
    CHECK_EQ(ctl_get_uword(s), 3);
    CHECK(ctl_take(s, NULL));
    CHECK(ctl_set_uword(s, 4));
    CHECK_EQ(ctl__test_locked_stores(), locked + 3);
    CHECK(ctl_take(s, NULL));
    CHECK(!ctl_has_value(s));

    // The slot is destroyed after the thread took its value: nothing to
    // destroy, and the stale handle cannot store (the mutex refuses it).
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
    check_slot(make_slot(count_value, &destroyed));
    // A slot beyond the lanes.
    ctl_slot fillers[CTL_LANE_COUNT];
    for (int i = 0; i < CTL_LANE_COUNT; i++) fillers[i] = make_slot(NULL, NULL);
    ctl_slot chunked = make_slot(count_value, &destroyed);
    CHECK(chunked.index >= CTL_LANE_COUNT);
    check_slot(chunked);
    for (int i = 0; i < CTL_LANE_COUNT; i++) CHECK_EQ(ctl_slot_destroy(fillers[i]), CTL_OK);
    tally_free(&destroyed);
    return finish("store_after_take");
}
