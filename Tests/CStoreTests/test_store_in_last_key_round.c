// SPDX-License-Identifier: Apache-2.0
// Regression: a thread stores its FIRST value from another library's pthread
// key destructor in libc's last destructor round, when the store's own key
// destructor will not be called any more. The store must stay sound: new
// threads (which reuse the dead threads' stacks and TLS) store values and
// exit, slots are created and destroyed, and the late values are destroyed
// when their slot is destroyed.
#include "check.h"

#include <limits.h>

enum { late_threads = 8, churn_threads = 200 };

static pthread_key_t other_key;  // "another library's" key
static long destructor_rounds;
static _Thread_local long rounds_seen;
static _Thread_local uintptr_t late_id;
static ctl_slot late_slot, churn_slot;
static tally late_counts, churn_counts;
static atomic_int late_stored, last_round_reached;

static void other_destructor(void *value) {
    (void)value;
    rounds_seen++;
    if (rounds_seen < destructor_rounds) {
        // Re-arm: libc calls this again in its next round.
        pthread_setspecific(other_key, (void *)1);
        return;
    }
    atomic_fetch_add(&last_round_reached, 1);
    CHECK(!ctl_has_value(late_slot));
    if (ctl_set_uword(late_slot, late_id)) atomic_fetch_add(&late_stored, 1);
}

static void *late_body(void *arg) {
    late_id = (uintptr_t)arg;
    pthread_setspecific(other_key, (void *)1);
    return NULL;  // the first store happens in libc's last destructor round
}

static void *churn_body(void *arg) {
    uintptr_t id = (uintptr_t)arg;
    CHECK(!ctl_has_value(late_slot));
    CHECK(!ctl_has_value(churn_slot));
    CHECK(ctl_set_uword(churn_slot, id));
    CHECK(ctl_set_uword(late_slot, late_threads + id));
    CHECK_EQ(ctl_get_uword(churn_slot), id);
    CHECK_EQ(ctl_get_uword(late_slot), late_threads + id);
    return NULL;
}

#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define UNDER_TSAN 1
#endif
#endif
#if defined(__SANITIZE_THREAD__)
#define UNDER_TSAN 1
#endif

int main(void) {
#if defined(UNDER_TSAN)
    // ThreadSanitizer finishes its own per-thread state during libc's
    // destructor rounds: this test's re-armed key destructor, called after
    // that, crashes inside the runtime on entry (any instrumented code would).
    printf("store_in_last_key_round: skipped under ThreadSanitizer (its thread state is gone in the later "
           "destructor rounds)\n");
    return 77;
#endif
#if defined(PTHREAD_DESTRUCTOR_ITERATIONS)
    destructor_rounds = PTHREAD_DESTRUCTOR_ITERATIONS;
#else
    destructor_rounds = sysconf(_SC_THREAD_DESTRUCTOR_ITERATIONS);
    if (destructor_rounds <= 0) destructor_rounds = 4;
#endif
    tally_init(&late_counts, late_threads + churn_threads);
    tally_init(&churn_counts, churn_threads);
    late_slot = make_slot(count_value, &late_counts);
    churn_slot = make_slot(count_value, &churn_counts);
    // The store's own key exists once a thread has stored a value. The other
    // key is created after it, so libc calls it after the store's key in each
    // round: a store made in the last round comes after the store's key had
    // its last chance.
    join_thread(start_thread(churn_body, (void *)(uintptr_t)0));
    CHECK_EQ(atomic_load(&churn_counts.total), 1);
    atomic_store(&churn_counts.total, 0);
    atomic_store(&churn_counts.hits[0], 0);
    atomic_store(&late_counts.hits[late_threads], 0);
    atomic_store(&late_counts.total, 0);
    REQUIRE(pthread_key_create(&other_key, other_destructor) == 0);

    for (int i = 0; i < late_threads; i++) join_thread(start_thread(late_body, (void *)(uintptr_t)i));
    CHECK_EQ(atomic_load(&last_round_reached), late_threads);
    CHECK_EQ(atomic_load(&late_stored), late_threads);  // stores never fail because a thread exits

    // New threads reuse the exited threads' memory; slots come and go.
    for (int i = 0; i < churn_threads; i++) {
        join_thread(start_thread(churn_body, (void *)(uintptr_t)i));
        if (i % 20 == 0) {
            ctl_slot extra[70];
            for (int k = 0; k < 70; k++) {
                extra[k] = make_slot(NULL, NULL);
                CHECK(ctl_set_uword(extra[k], 1));
            }
            for (int k = 0; k < 70; k++) CHECK_EQ(ctl_slot_destroy(extra[k]), CTL_OK);
        }
    }
    CHECK_EQ(atomic_load(&churn_counts.total), churn_threads);
    CHECK_HITS(&churn_counts, 0, churn_threads, 1);
    // The churn threads' values in late_slot were destroyed when they exited;
    // the late values are still held.
    CHECK_HITS(&late_counts, late_threads, late_threads + churn_threads, 1);
    CHECK_HITS(&late_counts, 0, late_threads, 0);

    CHECK_EQ(ctl_slot_destroy(late_slot), CTL_OK);
    CHECK_HITS(&late_counts, 0, late_threads + churn_threads, 1);
    CHECK_EQ(ctl_slot_destroy(churn_slot), CTL_OK);
    CHECK_EQ(atomic_load(&churn_counts.total), churn_threads);

    // The store still works.
    churn_slot = make_slot(count_value, &churn_counts);
    late_slot = make_slot(count_value, &late_counts);
    join_thread(start_thread(churn_body, (void *)(uintptr_t)0));
    CHECK_EQ(atomic_load(&churn_counts.total), churn_threads + 1);
    CHECK_EQ(ctl_slot_destroy(churn_slot), CTL_OK);
    CHECK_EQ(ctl_slot_destroy(late_slot), CTL_OK);
    tally_free(&late_counts);
    tally_free(&churn_counts);
    return finish("store_in_last_key_round");
}
