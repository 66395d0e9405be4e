// SPDX-License-Identifier: Apache-2.0
// A destroyed slot's number handed out again: a running thread that held
// values in the destroyed slots (in lanes and in chunks) sees the new slots on
// the same numbers empty, and the old handles stay dead for it.
#include "check.h"

enum { slot_count = CTL_LANE_COUNT + 8 };

static ctl_slot old[slot_count], fresh[slot_count];
static barrier step;

static void *holder(void *arg) {
    (void)arg;
    for (int i = 0; i < slot_count; i++) CHECK(ctl_set_uword(old[i], 1000 + i));
    barrier_wait(&step);  // 1: stored
    barrier_wait(&step);  // 2: the slots were destroyed and their numbers handed out again
    for (int i = 0; i < slot_count; i++) {
        CHECK(!ctl_has_value(fresh[i]));
        CHECK_EQ(ctl_get_uword(fresh[i]), 0);
        CHECK(!ctl_has_value(old[i]));
        CHECK(!ctl_set_uword(old[i], 1));
    }
    return NULL;
}

int main(void) {
    for (int i = 0; i < slot_count; i++) old[i] = make_slot(NULL, NULL);
    barrier_init(&step, 2);
    pthread_t t = start_thread(holder, NULL);
    for (int i = 0; i < slot_count; i++) CHECK(ctl_set_uword(old[i], 7));
    barrier_wait(&step);
    for (int i = 0; i < slot_count; i++) CHECK_EQ(ctl_slot_destroy(old[i]), CTL_OK);
    // Lowest number first: the same numbers come back, in the same order.
    for (int i = 0; i < slot_count; i++) {
        fresh[i] = make_slot(NULL, NULL);
        REQUIRE(fresh[i].index == old[i].index);
        CHECK(fresh[i].generation != old[i].generation);
        CHECK(!ctl_has_value(fresh[i]));
    }
    barrier_wait(&step);
    join_thread(t);
    barrier_destroy(&step);
    for (int i = 0; i < slot_count; i++) CHECK(!ctl_slot_is_live(old[i]));
    for (int i = 0; i < slot_count; i++) CHECK_EQ(ctl_slot_destroy(fresh[i]), CTL_OK);
    return finish("reused_number");
}
