// SPDX-License-Identifier: Apache-2.0
// Regression: destructors that destroy slots, run by two threads that exit
// at the same time, each holding values in both slots.
// 1. Each slot's destructor destroys its own slot.
// 2. A cycle: a's destructor destroys b, b's destructor destroys a.
// Both threads must be joined, and each of the four values destroyed once.
#include "check.h"

static ctl_slot a, b;
static atomic_int a_calls, b_calls;
static barrier ready;

static void destroy_own_a(ctl_value v, void *c) {
    (void)v, (void)c;
    atomic_fetch_add(&a_calls, 1);
    ctl_slot_destroy(a);  // CTL_EINVAL for the second caller
}
static void destroy_own_b(ctl_value v, void *c) {
    (void)v, (void)c;
    atomic_fetch_add(&b_calls, 1);
    ctl_slot_destroy(b);
}
static void a_destroys_b(ctl_value v, void *c) {
    (void)v, (void)c;
    atomic_fetch_add(&a_calls, 1);
    ctl_slot_destroy(b);
}
static void b_destroys_a(ctl_value v, void *c) {
    (void)v, (void)c;
    atomic_fetch_add(&b_calls, 1);
    ctl_slot_destroy(a);
}

static void *body(void *arg) {
    uintptr_t id = (uintptr_t)arg;
    // Thread 1 stores in the other order; values are swept by slot number.
    if (id == 0) {
        CHECK(ctl_set_uword(a, id));
        CHECK(ctl_set_uword(b, id));
    } else {
        CHECK(ctl_set_uword(b, id));
        CHECK(ctl_set_uword(a, id));
    }
    barrier_wait(&ready);
    return NULL;
}

static void run(const char *label, ctl_destructor da, ctl_destructor db, int repetitions) {
    for (int r = 0; r < repetitions; r++) {
        atomic_store(&a_calls, 0);
        atomic_store(&b_calls, 0);
        // Alternate which slot has the lower number.
        if (r % 2 == 0) {
            a = make_slot(da, NULL);
            b = make_slot(db, NULL);
        } else {
            b = make_slot(db, NULL);
            a = make_slot(da, NULL);
        }
        barrier_init(&ready, 2);
        pthread_t t0 = start_thread(body, (void *)0), t1 = start_thread(body, (void *)1);
        join_thread(t0);
        join_thread(t1);
        barrier_destroy(&ready);
        if (atomic_load(&a_calls) != 2 || atomic_load(&b_calls) != 2) {
            fprintf(stderr, "%s, repetition %d: a's destructor %d calls, b's %d (expected 2 and 2)\n", label, r,
                    atomic_load(&a_calls), atomic_load(&b_calls));
            check_failures++;
            return;
        }
        CHECK(!ctl_slot_is_live(a));
        CHECK(!ctl_slot_is_live(b));
    }
}

int main(void) {
    int repetitions = small_mode() ? 50 : 300;
    run("each destroys its own slot", destroy_own_a, destroy_own_b, repetitions);
    run("cycle a -> b -> a", a_destroys_b, b_destroys_a, repetitions);
    CHECK_EQ(ctl_get_stats().live_slots, 0);
    return finish("exits_destroy_each_others_slots");
}
