// SPDX-License-Identifier: Apache-2.0
// ctl_slot_destroy while threads that hold values run and exit: every value
// is destroyed exactly once, by the destroyer or by its exiting thread (at the
// latest when it is joined), and running threads see the slot empty and
// dead. A second slot, not destroyed, is still cleaned up at exit.
#include "check.h"

enum { thread_count = 8 };

static ctl_slot doomed, kept;
static tally doomed_counts, kept_counts;
static barrier stored;
static atomic_int release_exiters, destroy_done;

typedef struct job {
    int id;
    int exits_early;
} job;

static void *body(void *arg) {
    job *j = arg;
    CHECK(ctl_set_uword(doomed, (uintptr_t)j->id));
    CHECK(ctl_set_uword(kept, (uintptr_t)j->id));
    barrier_wait(&stored);
    if (j->exits_early) {
        while (!atomic_load(&release_exiters)) sleep_ns(10000);
        return NULL;  // exits while the destroy may be running
    }
    while (!atomic_load(&destroy_done)) sleep_ns(10000);
    CHECK(!ctl_has_value(doomed));
    CHECK(!ctl_set_uword(doomed, 1));
    CHECK(!ctl_has_value(doomed));
    CHECK_EQ(ctl_get_uword(kept), j->id);
    return NULL;
}

int main(void) {
    int rounds = small_mode() ? 20 : 100;
    int capacity = rounds * thread_count;
    tally_init(&doomed_counts, capacity);
    tally_init(&kept_counts, capacity);
    kept = make_slot(count_value, &kept_counts);
    for (int round = 0; round < rounds; round++) {
        doomed = make_slot(count_value, &doomed_counts);
        atomic_store(&release_exiters, 0);
        atomic_store(&destroy_done, 0);
        barrier_init(&stored, thread_count + 1);
        pthread_t threads[thread_count];
        job jobs[thread_count];
        for (int t = 0; t < thread_count; t++) {
            jobs[t] = (job){round * thread_count + t, (t + round) % 2};
            threads[t] = start_thread(body, &jobs[t]);
        }
        barrier_wait(&stored);
        atomic_store(&release_exiters, 1);
        if (round % 3 == 1) sleep_ns(50000);  // vary the overlap
        CHECK_EQ(ctl_slot_destroy(doomed), CTL_OK);
        atomic_store(&destroy_done, 1);
        for (int t = 0; t < thread_count; t++) join_thread(threads[t]);
        // Every value of this round is destroyed once the exiting threads
        // are joined (destroy does not wait for the calls they had begun).
        CHECK_EQ(atomic_load(&doomed_counts.total), (round + 1) * thread_count);
        barrier_destroy(&stored);
        CHECK_EQ(atomic_load(&kept_counts.total), (round + 1) * thread_count);
    }
    CHECK_HITS(&doomed_counts, 0, capacity, 1);
    CHECK_HITS(&kept_counts, 0, capacity, 1);
    CHECK_EQ(ctl_slot_destroy(kept), CTL_OK);
    CHECK_EQ(atomic_load(&kept_counts.total), capacity);
    tally_free(&doomed_counts);
    tally_free(&kept_counts);
    return finish("destroy_running");
}
