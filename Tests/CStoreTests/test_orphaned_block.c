// A thread whose destructors keep storing values at exit ends after
// CTL_EXIT_SWEEPS sweeps; its block, still holding the last value, stays in
// the store's list (orphaned) until a destroy takes that value, and is freed
// then. Counted through the registered-blocks statistic, in a process of its
// own.
#include "check.h"

static ctl_slot stubborn;
static atomic_int calls;

static void store_again(ctl_value value, void *context) {
    (void)context;
    atomic_fetch_add(&calls, 1);
    // Always stores itself again; refused only once the slot is dying.
    if (!ctl_set_i64(stubborn, value.i64 + 1)) atomic_fetch_add(&calls, 1000);
}

static void *store_once(void *arg) {
    (void)arg;
    CHECK(ctl_set_i64(stubborn, 1));
    return NULL;
}

int main(void) {
    CHECK_EQ(ctl_slot_create(&stubborn, store_again, NULL), CTL_OK);
    size_t before = ctl_get_stats().registered_threads;
    pthread_t thread;
    CHECK_EQ(pthread_create(&thread, NULL, store_once, NULL), 0);
    CHECK_EQ(pthread_join(thread, NULL), 0);
    CHECK_EQ(atomic_load(&calls), CTL_EXIT_SWEEPS);
    // The exited thread's block holds the value stored in the last sweep.
    CHECK_EQ(ctl_get_stats().registered_threads, before + 1);
    CHECK_EQ(ctl_slot_destroy(stubborn), CTL_OK);
    // Destroyed here (its store into the dying slot refused), and the block
    // went with it.
    CHECK_EQ(atomic_load(&calls), CTL_EXIT_SWEEPS + 1 + 1000);
    CHECK_EQ(ctl_get_stats().registered_threads, before);
    return finish("orphaned_block");
}
