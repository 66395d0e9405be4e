// SPDX-License-Identifier: Apache-2.0
// fork(): the child sees the forking thread's values, not other threads';
// it can store, create and destroy slots (its own values are destroyed, other
// threads' are dropped without destructor calls); the parent is unaffected.
// Also: forks while another thread keeps using the store's slow paths.
#include "check.h"

static ctl_slot inline_slot, chunk_slot;
static ctl_slot fillers[CTL_LANE_COUNT];
static tally counts;
static atomic_int helper_stored, helper_release;

// Values: 0/1 main's (inline/chunk), 2/3 the helper's, 4 the child's.
static void *helper(void *arg) {
    (void)arg;
    CHECK(ctl_set_uword(inline_slot, 2));
    CHECK(ctl_set_uword(chunk_slot, 3));
    atomic_store(&helper_stored, 1);
    while (!atomic_load(&helper_release)) sleep_ns(100000);
    CHECK_EQ(ctl_get_uword(inline_slot), 2);
    CHECK_EQ(ctl_get_uword(chunk_slot), 3);
    return NULL;
}

static void *child_thread(void *arg) {
    ctl_slot s = *(ctl_slot *)arg;
    CHECK(!ctl_has_value(s));
    CHECK(ctl_set_uword(s, 4));
    return NULL;
}

// Runs in the child; returns the exit status.
static int child(void) {
    CHECK_EQ(ctl_get_stats().registered_threads, 1);  // the helper's block is gone
    CHECK_EQ(ctl_get_uword(inline_slot), 0);
    CHECK_EQ(ctl_get_uword(chunk_slot), 1);
    CHECK(ctl_set_uword(inline_slot, 4));
    CHECK_EQ(ctl_slot_destroy(inline_slot), CTL_OK);
    // Only the child's own value was destroyed, not the helper's copy.
    CHECK_EQ(atomic_load(&counts.total), 1);
    CHECK_EQ(atomic_load(&counts.hits[4]), 1);
    CHECK_EQ(atomic_load(&counts.hits[2]), 0);
    CHECK(!ctl_has_value(inline_slot));
    // The store works: a new slot, a new thread that stores and exits.
    // CTL_TEST_NO_THREADS_AFTER_FORK=1 leaves the thread out: qemu-user 7.2
    // aborts in a forked child of a multi-threaded process that starts a thread.
    ctl_slot fresh = make_slot(count_value, &counts);
    const char *no_threads = getenv("CTL_TEST_NO_THREADS_AFTER_FORK");
    int with_thread = no_threads == NULL || strcmp(no_threads, "1") != 0;
    if (with_thread) {
        pthread_t t = start_thread(child_thread, &fresh);
        join_thread(t);
    } else {
        child_thread(&fresh);
        CHECK_EQ(ctl_slot_destroy(fresh), CTL_OK);  // destroys the value
    }
    CHECK_EQ(atomic_load(&counts.hits[4]), 2);
    if (with_thread) CHECK_EQ(ctl_slot_destroy(fresh), CTL_OK);
    CHECK_EQ(ctl_slot_destroy(chunk_slot), CTL_OK);
    CHECK_EQ(atomic_load(&counts.hits[1]), 1);
    CHECK_EQ(atomic_load(&counts.hits[3]), 0);
    CHECK_EQ(atomic_load(&counts.total), 3);
    fflush(stdout);
    fflush(stderr);
    return check_failures ? 1 : 0;
}

// --- Forks while another thread uses the slow paths -------------------------

static atomic_int churn_stop;

static void *churn(void *arg) {
    (void)arg;
    while (!atomic_load(&churn_stop)) {
        ctl_slot s = make_slot(NULL, NULL);
        CHECK(ctl_set_uword(s, 1));
        CHECK_EQ(ctl_slot_destroy(s), CTL_OK);
    }
    return NULL;
}

static void forks_during_churn(void) {
    pthread_t t = start_thread(churn, NULL);
    int forks = small_mode() ? 5 : 20;
    for (int i = 0; i < forks; i++) {
        pid_t pid = fork();
        REQUIRE(pid >= 0);
        if (pid == 0) {
            ctl_slot s;
            int ok = ctl_get_stats().registered_threads == 1 && ctl_slot_create(&s, NULL, NULL) == CTL_OK &&
                     ctl_set_uword(s, 9) && ctl_get_uword(s) == 9 && ctl_slot_destroy(s) == CTL_OK;
            _exit(ok ? 0 : 1);
        }
        CHECK_EQ(wait_child(pid, 20), 0);
        sleep_ns(200000);
    }
    atomic_store(&churn_stop, 1);
    join_thread(t);
}

int main(void) {
    tally_init(&counts, 5);
    inline_slot = make_slot(count_value, &counts);
    for (int i = 0; i < CTL_LANE_COUNT; i++) fillers[i] = make_slot(NULL, NULL);
    chunk_slot = make_slot(count_value, &counts);
    REQUIRE(chunk_slot.index >= CTL_LANE_COUNT);
    CHECK(ctl_set_uword(inline_slot, 0));
    CHECK(ctl_set_uword(chunk_slot, 1));
    pthread_t h = start_thread(helper, NULL);
    while (!atomic_load(&helper_stored)) sleep_ns(100000);

    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) _exit(child());
    CHECK_EQ(wait_child(pid, 30), 0);

    // The parent: nothing destroyed, everything still there.
    CHECK_EQ(atomic_load(&counts.total), 0);
    CHECK(ctl_slot_is_live(inline_slot));
    CHECK_EQ(ctl_get_uword(inline_slot), 0);
    CHECK_EQ(ctl_get_uword(chunk_slot), 1);
    atomic_store(&helper_release, 1);
    join_thread(h);
    CHECK_EQ(atomic_load(&counts.total), 2);  // the helper's two values, at its exit
    CHECK_EQ(ctl_slot_destroy(inline_slot), CTL_OK);
    CHECK_EQ(ctl_slot_destroy(chunk_slot), CTL_OK);
    CHECK_HITS(&counts, 0, 4, 1);
    CHECK_EQ(atomic_load(&counts.hits[4]), 0);
    for (int i = 0; i < CTL_LANE_COUNT; i++) CHECK_EQ(ctl_slot_destroy(fillers[i]), CTL_OK);

    forks_during_churn();
    tally_free(&counts);
    return finish("fork");
}
