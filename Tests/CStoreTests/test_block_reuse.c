// SPDX-License-Identifier: Apache-2.0
// An exited thread's block is kept for the next thread to register (without
// its chunks): that thread starts with no value in any slot, in the lanes or
// beyond, stores and exits as any other, and each value is destroyed once.
// Many threads in turn, some holding values beyond the lanes; afterwards
// every destroy finds nothing left.
#include "check.h"

enum { threads = 300 };

static tally destroyed;
static ctl_slot lane, chunked;

static void *body(void *arg) {
    int i = (int)(intptr_t)arg;
    CHECK(!ctl_has_value(lane));
    CHECK(!ctl_has_value(chunked));
    CHECK_EQ(ctl_get_uword(lane), 0);
    CHECK(ctl_set_uword(lane, (uintptr_t)(2 * i)));
    if (i % 2 == 0) CHECK(ctl_set_uword(chunked, (uintptr_t)(2 * i + 1)));
    CHECK_EQ(ctl_get_uword(lane), 2 * i);
    return NULL;
}

int main(void) {
    tally_init(&destroyed, 2 * threads);
    lane = make_slot(count_value, &destroyed);
    ctl_slot fillers[CTL_LANE_COUNT];
    for (int i = 0; i < CTL_LANE_COUNT; i++) fillers[i] = make_slot(NULL, NULL);
    chunked = make_slot(count_value, &destroyed);
    REQUIRE(chunked.index >= CTL_LANE_COUNT);
    for (int i = 0; i < threads; i++) join_thread(start_thread(body, (void *)(intptr_t)i));
    CHECK_EQ(ctl_get_stats().registered_threads, 0);
    for (int i = 0; i < threads; i++) {
        CHECK_EQ(atomic_load(&destroyed.hits[2 * i]), 1);
        CHECK_EQ(atomic_load(&destroyed.hits[2 * i + 1]), i % 2 == 0 ? 1 : 0);
    }
    int total = atomic_load(&destroyed.total);
    CHECK_EQ(ctl_slot_destroy(lane), CTL_OK);
    CHECK_EQ(ctl_slot_destroy(chunked), CTL_OK);
    CHECK_EQ(atomic_load(&destroyed.total), total);
    for (int i = 0; i < CTL_LANE_COUNT; i++) CHECK_EQ(ctl_slot_destroy(fillers[i]), CTL_OK);
    tally_free(&destroyed);
    return finish("block_reuse");
}
