// SPDX-License-Identifier: Apache-2.0
// A signal handler that writes its thread's value races with the thread's
// own first store (ctl_set's slow path, ctl_finish_initialization) and
// ctl_take. The thread loops: store 0, take it, add the taken value to a sum.
// Another thread signals it a fixed number of times, one signal at a time;
// the handler increments the value if the thread holds one and counts its
// increments. No increment may be lost: the sum equals the count. (Taking the
// value before clearing the tag, or publishing the tag before the value, loses
// an increment made in between.) The value is a word, which a handler sees
// whole on every target (see the header's "Accessors"). Where the other
// thread's signals land is up to the scheduler, so every 64th round the thread
// also signals itself (SIGUSR2) while it holds the value: the count is never
// vacuous, whatever the timing.
// CTL_TEST_SMALL=1: fewer signals.
#include "check.h"

static ctl_slot slot;
static pthread_t target;
static volatile sig_atomic_t increments;      // written by the handlers only
static volatile sig_atomic_t own_increments;  // of those, by the thread's own signals
static atomic_int handled;                    // the other thread's signals handled so far
static atomic_int stop;

static void increment_held_value(void) {
    ctl_value *value = ctl_value_pointer(slot);
    if (value != NULL) {
        value->uword += 1;
        increments = increments + 1;
    }
}

static void on_signal(int signal) {
    (void)signal;
    increment_held_value();
    atomic_fetch_add(&handled, 1);
}

static void on_own_signal(int signal) {
    (void)signal;
    own_increments = own_increments + 1;
    increment_held_value();
}

static void *loop(void *arg) {
    (void)arg;
    long long sum = 0;
    for (unsigned i = 0;; i++) {
        if (i % 2 == 0) {
            CHECK(ctl_set_uword(slot, 0));
        } else {
            CHECK_EQ(ctl_begin_initialization(slot), CTL_OK);
            CHECK(ctl_finish_initialization(slot, (ctl_value){.uword = 0}));
        }
        // Read while the value is held: ThreadSanitizer delivers signals only
        // at such calls, and its runs then see the handler write the value.
        bool last = atomic_load(&stop);
        if (i % 64 == 0) REQUIRE(pthread_kill(pthread_self(), SIGUSR2) == 0);  // handled before it returns
        ctl_value taken;
        CHECK(ctl_take(slot, &taken));
        sum += (long long)taken.uword;
        // Every signal was handled before `stop` was set.
        if (last) return (void *)(intptr_t)sum;
    }
}

static void *signal_target(void *arg) {
    int signals = *(int *)arg;
    for (int i = 0; i < signals; i++) {
        REQUIRE(pthread_kill(target, SIGUSR1) == 0);
        while (atomic_load(&handled) <= i) sched_yield();
    }
    return NULL;
}

int main(void) {
    int signals = small_mode() ? 2000 : 5000;
    slot = make_slot(NULL, NULL);
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = on_signal;
    sigemptyset(&action.sa_mask);
    action.sa_flags = SA_RESTART;
    CHECK_EQ(sigaction(SIGUSR1, &action, NULL), 0);
    action.sa_handler = on_own_signal;
    CHECK_EQ(sigaction(SIGUSR2, &action, NULL), 0);

    target = start_thread(loop, NULL);
    pthread_t driver = start_thread(signal_target, &signals);
    join_thread(driver);
    atomic_store(&stop, 1);
    void *sum;
    REQUIRE(pthread_join(target, &sum) == 0);

    printf("signal_take: %d signals from another thread and %d of its own, %d increments, %lld found in taken "
           "values\n",
           signals, (int)own_increments, (int)increments, (long long)(intptr_t)sum);
    CHECK(own_increments > 0);
    CHECK(increments >= own_increments);
    CHECK_EQ((long long)(intptr_t)sum, increments);
    CHECK_EQ(ctl_slot_destroy(slot), CTL_OK);
    return finish("signal_take");
}
