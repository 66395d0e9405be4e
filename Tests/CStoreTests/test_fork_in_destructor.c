// SPDX-License-Identifier: Apache-2.0
// Regression: a destructor running at thread exit calls fork(). In the child,
// the only thread is the copy of the exiting one, inside that destructor: it
// destroys the slot whose destructor it is running (which must not wait for
// itself) and another slot it holds, uses the store, and exits 0.
#include "check.h"

static ctl_slot forking, other;
static tally other_counts;
static atomic_int forking_calls;
static pid_t child_pid = -1;

static void child_in_destructor(void) {
    CHECK_EQ(ctl_slot_destroy(forking), CTL_OK);
    CHECK(!ctl_slot_is_live(forking));
    // The other value is still held (higher slot number: not swept yet).
    CHECK_EQ(ctl_get_uword(other), 0);
    CHECK_EQ(ctl_slot_destroy(other), CTL_OK);
    CHECK_EQ(atomic_load(&other_counts.total), 1);
    ctl_slot s = make_slot(NULL, NULL);
    CHECK(ctl_set_uword(s, 5));
    CHECK_EQ(ctl_get_uword(s), 5);
    CHECK_EQ(ctl_slot_destroy(s), CTL_OK);
    fflush(stdout);
    fflush(stderr);
    _exit(check_failures ? 1 : 0);
}

static void fork_here(ctl_value value, void *context) {
    (void)value;
    (void)context;
    atomic_fetch_add(&forking_calls, 1);
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) child_in_destructor();
    child_pid = pid;
}

static void *body(void *arg) {
    (void)arg;
    CHECK(ctl_set_uword(forking, 1));
    CHECK(ctl_set_uword(other, 0));
    return NULL;
}

int main(void) {
    tally_init(&other_counts, 1);
    forking = make_slot(fork_here, NULL);
    other = make_slot(count_value, &other_counts);
    REQUIRE(forking.index < other.index);
    join_thread(start_thread(body, NULL));
    REQUIRE(child_pid > 0);
    int status = wait_child(child_pid, 20);
    printf("child exit status: %d (expected 0; -1 = hung and killed)\n", status);
    CHECK_EQ(status, 0);
    // The parent: the exiting thread went on and destroyed its other value.
    CHECK_EQ(atomic_load(&forking_calls), 1);
    CHECK_EQ(atomic_load(&other_counts.total), 1);
    CHECK_EQ(ctl_slot_destroy(forking), CTL_OK);
    CHECK_EQ(ctl_slot_destroy(other), CTL_OK);
    CHECK_EQ(atomic_load(&forking_calls), 1);
    tally_free(&other_counts);
    return finish("fork_in_destructor");
}
