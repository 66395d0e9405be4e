// SPDX-License-Identifier: Apache-2.0
// A thread's values are destroyed when it exits: each exactly once, on the
// exiting thread, in inline and chunk slots; values taken out are not.
#include "check.h"

enum { thread_count = 16, slots_per_thread = 5, rounds = 4 };
enum { total_slots = CTL_LANE_COUNT + 10 };

static ctl_slot slots[total_slots];
static tally counts;
// The slot positions used: three in lanes, two beyond the lanes.
static const int used[slots_per_thread] = {0, 7, CTL_LANE_COUNT - 1, CTL_LANE_COUNT + 2, total_slots - 1};

// The owner of each id, checked in the destructor.
static _Thread_local int current_thread = -1;
static atomic_int wrong_thread;

static void destroy_on_owner(ctl_value value, void *context) {
    int owner = (int)(value.uword / slots_per_thread) % thread_count;
    if (owner != current_thread) atomic_fetch_add(&wrong_thread, 1);
    count_value(value, context);
}

typedef struct job {
    int thread;
    int round;
} job;

static void *body(void *arg) {
    job *j = arg;
    current_thread = j->thread;
    int base = (j->round * thread_count + j->thread) * slots_per_thread;
    for (int k = 0; k < slots_per_thread; k++) {
        ctl_slot s = slots[used[k]];
        CHECK(!ctl_has_value(s));
        CHECK(ctl_set_uword(s, (uintptr_t)(base + k)));
    }
    for (int k = 0; k < slots_per_thread; k++) CHECK_EQ(ctl_get_uword(slots[used[k]]), base + k);
    // The last one is taken out again: the thread owns it, the store must not
    // destroy it.
    ctl_value taken;
    CHECK(ctl_take(slots[used[1]], &taken));
    CHECK_EQ(taken.uword, base + 1);
    return NULL;
}

int main(void) {
    int capacity = rounds * thread_count * slots_per_thread;
    tally_init(&counts, capacity);
    for (int i = 0; i < total_slots; i++) slots[i] = make_slot(destroy_on_owner, &counts);
    ctl_stats before = ctl_get_stats();

    for (int round = 0; round < rounds; round++) {
        pthread_t threads[thread_count];
        job jobs[thread_count];
        for (int t = 0; t < thread_count; t++) {
            jobs[t] = (job){t, round};
            threads[t] = start_thread(body, &jobs[t]);
        }
        for (int t = 0; t < thread_count; t++) join_thread(threads[t]);
        // All joined: every value of the round is destroyed already.
        CHECK_EQ(atomic_load(&counts.total), (round + 1) * thread_count * (slots_per_thread - 1));
    }
    for (int id = 0; id < capacity; id++) {
        int expected = id % slots_per_thread == 1 ? 0 : 1;
        if (atomic_load(&counts.hits[id]) != expected) {
            fprintf(stderr, "value %d destroyed %d times, expected %d\n", id, atomic_load(&counts.hits[id]), expected);
            check_failures++;
            break;
        }
    }
    CHECK_EQ(atomic_load(&wrong_thread), 0);
    CHECK_EQ(ctl_get_stats().registered_threads, before.registered_threads);

    // No values are left: destroying the slots calls no destructor.
    int total = atomic_load(&counts.total);
    for (int i = 0; i < total_slots; i++) CHECK_EQ(ctl_slot_destroy(slots[i]), CTL_OK);
    CHECK_EQ(atomic_load(&counts.total), total);
    tally_free(&counts);
    return finish("thread_exit");
}
