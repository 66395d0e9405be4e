// SPDX-License-Identifier: Apache-2.0
// A thread whose destructors keep storing values at exit ends after
// CTL_EXIT_SWEEPS sweeps, leaving the values stored in the last sweep. It
// keeps only those values, not its storage, and they cost destroys nothing
// beyond themselves:
// - its block is freed at its exit (registered blocks back to the count
//   before), and its value is kept with the slot until the slot is destroyed;
// - a destroy of an unrelated slot after N such threads visits no entry of
//   theirs;
// - destroying K values that one thread left, slot after slot, visits a
//   number of entries linear in K;
// - a fork child drops the left values without destructor calls.
// Counted through the store's statistics and its count of visited entries
// (CTL_TESTING), in a process of its own.
#include "check.h"

static atomic_int calls, refused;

static void store_again(ctl_value value, void *context) {
    ctl_slot slot = *(ctl_slot *)context;
    atomic_fetch_add(&calls, 1);
    // Always stores itself again; refused only once the slot is dying.
    if (!ctl_set_i64(slot, value.i64 + 1)) atomic_fetch_add(&refused, 1);
}

typedef struct slots {
    ctl_slot *slot;
    int count;
} slots;

static void *store_in_each(void *arg) {
    slots *s = arg;
    for (int i = 0; i < s->count; i++) CHECK(ctl_set_i64(s->slot[i], 1));
    return NULL;
}

int main(void) {
    int threads = small_mode() ? 50 : 200;
    int values = small_mode() ? 300 : 1000;
    ctl_stats before = ctl_get_stats();

    // One thread, one value left.
    ctl_slot stubborn = make_slot(store_again, &stubborn);
    slots one = {&stubborn, 1};
    join_thread(start_thread(store_in_each, &one));
    CHECK_EQ(atomic_load(&calls), CTL_EXIT_SWEEPS);
    CHECK_EQ(ctl_get_stats().registered_threads, before.registered_threads);
    CHECK_EQ(ctl_get_stats().left_values, before.left_values + 1);
    CHECK_EQ(ctl_slot_destroy(stubborn), CTL_OK);
    // Destroyed here; its destructor's store into the dying slot is refused.
    CHECK_EQ(atomic_load(&calls), CTL_EXIT_SWEEPS + 1);
    CHECK_EQ(atomic_load(&refused), 1);
    CHECK_EQ(ctl_get_stats().left_values, before.left_values);

    // N threads, one value left each; then an unrelated slot is destroyed.
    atomic_store(&calls, 0);
    atomic_store(&refused, 0);
    stubborn = make_slot(store_again, &stubborn);
    for (int i = 0; i < threads; i++) join_thread(start_thread(store_in_each, &one));
    CHECK_EQ(ctl_get_stats().registered_threads, before.registered_threads);
    CHECK_EQ(ctl_get_stats().left_values, before.left_values + (size_t)threads);
    ctl_slot unrelated = make_slot(NULL, NULL);
    size_t visited = ctl__test_entries_visited();
    CHECK_EQ(ctl_slot_destroy(unrelated), CTL_OK);
    visited = ctl__test_entries_visited() - visited;
    printf("destroy of an unrelated slot after %d threads left a value: %zu entries visited\n", threads, visited);
    CHECK(visited <= before.registered_threads);
    // A fork child drops the values of threads it does not have, without
    // destructor calls (as it drops other threads' blocks).
    fflush(stdout);
    pid_t child = fork();
    REQUIRE(child >= 0);
    if (child == 0) {
        int calls_before = atomic_load(&calls);
        bool dropped = ctl_get_stats().left_values == before.left_values;
        bool destroyed = ctl_slot_destroy(stubborn) == CTL_OK;
        _exit(dropped && destroyed && atomic_load(&calls) == calls_before ? 0 : 1);
    }
    CHECK_EQ(wait_child(child, 30), 0);
    CHECK_EQ(ctl_slot_destroy(stubborn), CTL_OK);
    CHECK_EQ(atomic_load(&calls), threads * (CTL_EXIT_SWEEPS + 1));
    CHECK_EQ(atomic_load(&refused), threads);

    // One thread, K values left (most of them in chunks); the slots are then
    // destroyed one by one, lowest number first.
    atomic_store(&calls, 0);
    atomic_store(&refused, 0);
    ctl_slot *many = malloc((size_t)values * sizeof *many);
    REQUIRE(many != NULL);
    for (int i = 0; i < values; i++) many[i] = make_slot(store_again, &many[i]);
    slots all = {many, values};
    join_thread(start_thread(store_in_each, &all));
    CHECK_EQ(ctl_get_stats().registered_threads, before.registered_threads);
    CHECK_EQ(ctl_get_stats().left_values, before.left_values + (size_t)values);
    visited = ctl__test_entries_visited();
    for (int i = 0; i < values; i++) CHECK_EQ(ctl_slot_destroy(many[i]), CTL_OK);
    visited = ctl__test_entries_visited() - visited;
    printf("destroy of %d slots, each with a value one exited thread left: %zu entries visited\n", values, visited);
    CHECK(visited <= (size_t)values * before.registered_threads);
    CHECK_EQ(atomic_load(&refused), values);
    CHECK_EQ(ctl_get_stats().left_values, before.left_values);
    free(many);
    return finish("values_left_at_exit");
}
