// SPDX-License-Identifier: Apache-2.0
// Teardown bound: an exiting thread sweeps its values until a sweep runs no
// destructor, up to CTL_EXIT_SWEEPS sweeps.
// 1. Regression: a finite chain of destructors that each store the next link
//    into the same slot (behind the sweep, so one link per sweep),
//    CTL_EXIT_SWEEPS links long: every link is destroyed at the thread's exit.
// 2. A destructor that stores anew forever is cut off after CTL_EXIT_SWEEPS
//    calls; the value it stored last is destroyed with its slot (its store
//    into the dying slot is refused then).
// 3. Regression: a chain whose destructor creates a new, higher-numbered slot
//    at each link and stores into it is cut off too: a sweep visits only the
//    slots that existed when it began, so each link waits for the next sweep
//    and the exit makes at most CTL_EXIT_SWEEPS calls. (Before, one sweep
//    followed the chain forever; the test stops it at 100,000 links.)
// 4. Also when the new slot is in a chunk the sweep jumps to: a destructor
//    that creates slots 65 to 128, stores into 128 and into its own slot
//    again sees its own call first in the next sweep, then slot 128's.
#include "check.h"

_Static_assert(CTL_EXIT_SWEEPS >= 1000, "the teardown bound is at least 1000 sweeps");

static ctl_slot chain, forever;
static atomic_int chain_calls, forever_calls, forever_refused;

static void next_link(ctl_value value, void *context) {
    (void)context;
    atomic_fetch_add(&chain_calls, 1);
    if (value.uword > 1) CHECK(ctl_set_uword(chain, value.uword - 1));
}

static void store_again(ctl_value value, void *context) {
    (void)context;
    atomic_fetch_add(&forever_calls, 1);
    if (!ctl_set_uword(forever, value.uword + 1)) atomic_fetch_add(&forever_refused, 1);
}

enum { growing_limit = 100000 };
static atomic_int growing_calls, growing_stopped;
static ctl_slot growing_slots[growing_limit + 1];

static void grow(ctl_value value, void *context) {
    (void)context;
    int n = atomic_fetch_add(&growing_calls, 1) + 1;
    (void)value;
    if (n >= growing_limit || atomic_load(&growing_stopped)) return;
    growing_slots[n] = make_slot(grow, NULL);
    CHECK(ctl_set_uword(growing_slots[n], (uintptr_t)n));
}

static void *store_growing(void *arg) {
    (void)arg;
    CHECK(ctl_set_uword(growing_slots[0], 0));
    return NULL;
}

// Part 4.
static ctl_slot jump_slots[129];
static char jump_order[8];
static atomic_int jump_calls;

static void jump_record(ctl_value value, void *context) {
    (void)value;
    int n = atomic_fetch_add(&jump_calls, 1);
    if (n < 7) jump_order[n] = *(const char *)context;
}

static void jump_first(ctl_value value, void *context) {
    jump_record(value, context);
    if (atomic_load(&jump_calls) > 1) return;
    for (int i = CTL_LANE_COUNT + 1; i <= 128; i++) jump_slots[i] = make_slot(i == 128 ? jump_record : NULL, "X");
    CHECK(ctl_set_uword(jump_slots[128], 1));
    CHECK(ctl_set_uword(jump_slots[0], 2));  // behind the sweep's cursor
}

static void *store_jump(void *arg) {
    (void)arg;
    CHECK(ctl_set_uword(jump_slots[0], 1));
    return NULL;
}

static void *store_chain(void *arg) {
    (void)arg;
    CHECK(ctl_set_uword(chain, CTL_EXIT_SWEEPS));
    return NULL;
}

static void *store_forever(void *arg) {
    (void)arg;
    CHECK(ctl_set_uword(forever, 1));
    return NULL;
}

int main(void) {
    // Part 4 first, while the slot table holds only its slots: slot 0's
    // destructor runs, then (next sweep) slot 0's again, then slot 128's;
    // slot 128 is not reached in the sweep that created it.
    jump_slots[0] = make_slot(jump_first, "0");
    for (int i = 1; i <= CTL_LANE_COUNT; i++) jump_slots[i] = make_slot(NULL, NULL);
    join_thread(start_thread(store_jump, NULL));
    printf("new chunk slot during a sweep: destructor order %s (0: slot 0, X: slot 128)\n", jump_order);
    CHECK(strcmp(jump_order, "00X") == 0);
    // Its slots stay live, so that the parts below get numbers of their own
    // (a new slot that reuses a free number below a sweep's end is reached
    // in that sweep).
    chain = make_slot(next_link, NULL);
    join_thread(start_thread(store_chain, NULL));
    printf("chain of %d links: %d destroyed at exit\n", CTL_EXIT_SWEEPS, atomic_load(&chain_calls));
    CHECK_EQ(atomic_load(&chain_calls), CTL_EXIT_SWEEPS);
    CHECK_EQ(ctl_slot_destroy(chain), CTL_OK);
    CHECK_EQ(atomic_load(&chain_calls), CTL_EXIT_SWEEPS);  // nothing was left

    forever = make_slot(store_again, NULL);
    join_thread(start_thread(store_forever, NULL));
    CHECK_EQ(atomic_load(&forever_calls), CTL_EXIT_SWEEPS);
    CHECK_EQ(atomic_load(&forever_refused), 0);
    CHECK_EQ(ctl_slot_destroy(forever), CTL_OK);
    CHECK_EQ(atomic_load(&forever_calls), CTL_EXIT_SWEEPS + 1);
    CHECK_EQ(atomic_load(&forever_refused), 1);

    growing_slots[0] = make_slot(grow, NULL);
    join_thread(start_thread(store_growing, NULL));
    int calls = atomic_load(&growing_calls);
    printf("chain of new slots: %d calls at exit\n", calls);
    CHECK_EQ(calls, CTL_EXIT_SWEEPS);
    atomic_store(&growing_stopped, 1);
    for (int i = 0; i <= calls && i < growing_limit; i++) CHECK_EQ(ctl_slot_destroy(growing_slots[i]), CTL_OK);
    CHECK_EQ(atomic_load(&growing_calls), CTL_EXIT_SWEEPS + 1);  // the last link's value, left at exit

    return finish("exit_sweep_bound");
}
