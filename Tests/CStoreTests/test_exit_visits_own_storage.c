// SPDX-License-Identifier: Apache-2.0
// A thread's exit walks the thread's own storage, not the process-wide slot
// table: a thread that stores one value and exits visits at most its lanes
// twice (two sweeps: the second finds nothing) after the table once held
// 1,000,000 slots (all destroyed again), far fewer than the table has.
// Counted by the store (CTL_TESTING).
// CTL_TEST_SMALL=1: 250,000 slots.
#include "check.h"

static ctl_slot slot;

static void *body(void *arg) {
    (void)arg;
    CHECK(ctl_set_uword(slot, 1));
    return NULL;
}

// Entries visited while a thread stores one value and exits.
static size_t visits_of_one_thread(void) {
    size_t before = ctl__test_entries_visited();
    join_thread(start_thread(body, NULL));
    return ctl__test_entries_visited() - before;
}

int main(void) {
    int table = small_mode() ? 250000 : 1000000;
    slot = make_slot(NULL, NULL);
    size_t small_table = visits_of_one_thread();

    ctl_slot *many = malloc((size_t)table * sizeof *many);
    REQUIRE(many != NULL);
    for (int i = 0; i < table; i++) many[i] = make_slot(NULL, NULL);
    CHECK(ctl_get_stats().slot_table_size >= (size_t)table);
    for (int i = 0; i < table; i++) CHECK_EQ(ctl_slot_destroy(many[i]), CTL_OK);
    free(many);
    size_t large_table = visits_of_one_thread();

    printf("thread store+exit: %zu entries visited with a small slot table, %zu after %d slots\n", small_table,
           large_table, table);
    CHECK(small_table > 0);
    CHECK(large_table <= 2 * CTL_LANE_COUNT);
    CHECK(large_table < (size_t)table);
    CHECK_EQ(ctl_slot_destroy(slot), CTL_OK);
    return finish("exit_visits_own_storage");
}
