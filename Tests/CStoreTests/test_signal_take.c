// SPDX-License-Identifier: Apache-2.0
// A signal handler that writes its thread's value races with the thread's
// own first store (ctl_set's slow path, ctl_finish_initialization) and
// ctl_take. The thread loops: store 0, take it, add the taken value to a sum.
// Another thread signals it a fixed number of times, one signal at a time;
// the handler increments the value if the thread holds one and counts its
// increments. No increment may be lost: the sum equals the count. (Taking the
// value before clearing the tag, or publishing the tag before the value, loses
// an increment made in between.) The value is a word, which a handler sees
// whole on every target (see the header's "Accessors").
// CTL_TEST_SMALL=1: fewer signals.
#include "check.h"

static ctl_slot slot;
static pthread_t target;
static volatile sig_atomic_t increments;  // written by the handler only
static atomic_int handled;                // signals the handler has finished
static atomic_int stop;

static void on_signal(int signal) {
    (void)signal;
    ctl_value *value = ctl_value_pointer(slot);
    if (value != NULL) {
        value->uword += 1;
        increments = increments + 1;
    }
    atomic_fetch_add(&handled, 1);
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

    target = start_thread(loop, NULL);
    pthread_t driver = start_thread(signal_target, &signals);
    join_thread(driver);
    atomic_store(&stop, 1);
    void *sum;
    REQUIRE(pthread_join(target, &sum) == 0);

    printf("signal_take: %d signals, %d increments, %lld found in taken values\n", signals, (int)increments,
           (long long)(intptr_t)sum);
    CHECK(increments > 0);
    CHECK_EQ((long long)(intptr_t)sum, increments);
    CHECK_EQ(ctl_slot_destroy(slot), CTL_OK);
    return finish("signal_take");
}
