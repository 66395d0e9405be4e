// SPDX-License-Identifier: Apache-2.0
// 10,000 live slots, far beyond the 64 lanes: every thread keeps its
// own value in each, values are destroyed once at thread exit and at destroy.
#include "check.h"

enum { thread_count = 4 };

static int slot_count;
static ctl_slot *slots;
static tally counts;

static void *body(void *arg) {
    int t = (int)(uintptr_t)arg;  // 1 ... thread_count; 0 is main
    for (int i = 0; i < slot_count; i++) CHECK(ctl_set_uword(slots[i], (uintptr_t)(t * slot_count + i)));
    int wrong = 0;
    for (int i = 0; i < slot_count; i++)
        if (ctl_get_uword(slots[i]) != (uintptr_t)(t * slot_count + i)) wrong++;
    CHECK_EQ(wrong, 0);
    // In place, through the pointer, for the slots beyond the lanes.
    for (int i = CTL_LANE_COUNT; i < slot_count; i += 97) {
        ctl_value *p = ctl_value_pointer(slots[i]);
        CHECK(p != NULL && p == ctl_value_pointer(slots[i]));
    }
    return NULL;
}

int main(void) {
    slot_count = 10000;
    slots = calloc((size_t)slot_count, sizeof *slots);
    REQUIRE(slots != NULL);
    tally_init(&counts, (thread_count + 1) * slot_count);
    for (int i = 0; i < slot_count; i++) slots[i] = make_slot(count_value, &counts);
    CHECK(ctl_get_stats().live_slots >= (size_t)slot_count);

    // Main: values 0 ..< slot_count.
    for (int i = 0; i < slot_count; i++) CHECK(ctl_set_uword(slots[i], (uintptr_t)i));

    pthread_t threads[thread_count];
    for (int t = 0; t < thread_count; t++) threads[t] = start_thread(body, (void *)(uintptr_t)(t + 1));
    for (int t = 0; t < thread_count; t++) join_thread(threads[t]);
    CHECK_EQ(atomic_load(&counts.total), thread_count * slot_count);
    CHECK_HITS(&counts, slot_count, (thread_count + 1) * slot_count, 1);

    // Main's values are untouched by the other threads.
    int wrong = 0;
    for (int i = 0; i < slot_count; i++)
        if (ctl_get_uword(slots[i]) != (uintptr_t)i) wrong++;
    CHECK_EQ(wrong, 0);

    // Take every other value out; destroy all slots: the rest are destroyed.
    for (int i = 0; i < slot_count; i += 2) CHECK(ctl_take(slots[i], NULL));
    for (int i = 0; i < slot_count; i++) CHECK_EQ(ctl_slot_destroy(slots[i]), CTL_OK);
    CHECK_EQ(atomic_load(&counts.total), thread_count * slot_count + slot_count / 2);
    for (int i = 0; i < slot_count; i++) CHECK_EQ(atomic_load(&counts.hits[i]), i % 2);
    CHECK_EQ(ctl_get_stats().live_slots, 0);
    free(slots);
    tally_free(&counts);
    return finish("many_slots");
}
