#include "CThreadLocalsTestHarness.h"

#include <CThreadLocals.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

#define CHECK(condition)                                                                                     \
    do {                                                                                                     \
        if (!(condition)) return __LINE__;                                                                   \
    } while (0)

// Frees the value and counts it in the atomic_int that `context` points to
// (each scenario has its own counter: scenarios may run in parallel).
static void count_and_free(ctl_value value, void *context) {
    free(value.ptr);
    atomic_fetch_add((atomic_int *)context, 1);
}

int cth_basic_accessors(void) {
    ctl_slot slot;
    CHECK(ctl_slot_create(&slot, NULL, NULL) == CTL_OK);
    CHECK(ctl_slot_is_live(slot));
    CHECK(!ctl_has_value(slot));
    CHECK(ctl_get_ptr(slot) == NULL);
    CHECK(ctl_get_i64(slot) == 0);
    CHECK(ctl_set_i64(slot, -42));
    CHECK(ctl_has_value(slot));
    CHECK(ctl_get_i64(slot) == -42);
    CHECK(ctl_set_u64(slot, UINT64_MAX));
    CHECK(ctl_get_u64(slot) == UINT64_MAX);
    CHECK(ctl_set_f64(slot, 2.5));
    CHECK(ctl_get_f64(slot) == 2.5);
    CHECK(ctl_set_uword(slot, 7));
    CHECK(ctl_get_uword(slot) == 7);
    int x = 0;
    CHECK(ctl_set_ptr(slot, &x));
    CHECK(ctl_get_ptr(slot) == &x);
    ctl_value *in_place = ctl_value_pointer(slot);
    CHECK(in_place != NULL && in_place->ptr == &x);
    in_place->i64 = 5;
    CHECK(ctl_get_i64(slot) == 5);
    ctl_value fallback = {.i64 = -1};
    CHECK(ctl_get(slot, fallback).i64 == 5);
    ctl_value taken;
    CHECK(ctl_take(slot, &taken) && taken.i64 == 5);
    CHECK(!ctl_has_value(slot));
    CHECK(ctl_get(slot, fallback).i64 == -1);
    CHECK(!ctl_take(slot, &taken));
    CHECK(ctl_slot_destroy(slot) == CTL_OK);
    return 0;
}

typedef struct {
    ctl_slot slot;
    pthread_barrier_t *stored;
    pthread_barrier_t *release;
    int failed_line;
} worker_args;

static void *store_and_wait(void *raw) {
    worker_args *args = raw;
    int *value = malloc(sizeof *value);
    *value = 1;
    if (!ctl_set_ptr(args->slot, value)) args->failed_line = __LINE__;
    if (ctl_get_ptr(args->slot) != value) args->failed_line = __LINE__;
    if (args->stored) pthread_barrier_wait(args->stored);
    if (args->release) pthread_barrier_wait(args->release);
    return NULL;
}

int cth_thread_exit_destroys_values(int threads) {
    static atomic_int destroyed;
    atomic_store(&destroyed, 0);
    ctl_slot slot;
    CHECK(ctl_slot_create(&slot, count_and_free, &destroyed) == CTL_OK);
    pthread_t ids[threads];
    worker_args args[threads];
    for (int i = 0; i < threads; i++) {
        args[i] = (worker_args){.slot = slot};
        CHECK(pthread_create(&ids[i], NULL, store_and_wait, &args[i]) == 0);
    }
    for (int i = 0; i < threads; i++) {
        pthread_join(ids[i], NULL);
        CHECK(args[i].failed_line == 0);
    }
    CHECK(atomic_load(&destroyed) == threads);
    CHECK(ctl_slot_destroy(slot) == CTL_OK);
    CHECK(atomic_load(&destroyed) == threads);
    return 0;
}

int cth_destroy_destroys_running_threads_values(int threads) {
    static atomic_int destroyed;
    atomic_store(&destroyed, 0);
    ctl_slot slot;
    CHECK(ctl_slot_create(&slot, count_and_free, &destroyed) == CTL_OK);
    pthread_barrier_t stored, release;
    pthread_barrier_init(&stored, NULL, threads + 1);
    pthread_barrier_init(&release, NULL, threads + 1);
    pthread_t ids[threads];
    worker_args args[threads];
    for (int i = 0; i < threads; i++) {
        args[i] = (worker_args){.slot = slot, .stored = &stored, .release = &release};
        CHECK(pthread_create(&ids[i], NULL, store_and_wait, &args[i]) == 0);
    }
    pthread_barrier_wait(&stored);
    CHECK(ctl_slot_destroy(slot) == CTL_OK);
    int after_destroy = atomic_load(&destroyed);
    pthread_barrier_wait(&release);
    for (int i = 0; i < threads; i++) pthread_join(ids[i], NULL);
    pthread_barrier_destroy(&stored);
    pthread_barrier_destroy(&release);
    CHECK(after_destroy == threads);
    CHECK(atomic_load(&destroyed) == threads);  // not again at thread exit
    for (int i = 0; i < threads; i++) CHECK(args[i].failed_line == 0);
    return 0;
}

int cth_many_live_slots(int count) {
    ctl_slot *slots = malloc(sizeof *slots * (size_t)count);
    CHECK(slots != NULL);
    for (int i = 0; i < count; i++) CHECK(ctl_slot_create(&slots[i], NULL, NULL) == CTL_OK);
    for (int i = 0; i < count; i++) CHECK(ctl_set_i64(slots[i], (int64_t)i * 3));
    for (int i = 0; i < count; i++) CHECK(ctl_get_i64(slots[i]) == (int64_t)i * 3);
    ctl_stats stats = ctl_get_stats();
    CHECK(stats.live_slots >= (size_t)count);
    for (int i = 0; i < count; i++) CHECK(ctl_slot_destroy(slots[i]) == CTL_OK);
    free(slots);
    return 0;
}

enum { stale_old = 64, stale_max_new = 20000 };

typedef struct {
    ctl_slot *old;       // stale_old slots, set by both threads, then destroyed
    ctl_slot *fresh;     // the slots made afterwards
    int fresh_count;
    pthread_barrier_t *step;
    int failed_line;
} stale_args;

static void *stale_worker(void *raw) {
    stale_args *args = raw;
    for (int i = 0; i < stale_old; i++)
        if (!ctl_set_i64(args->old[i], 1000 + i)) args->failed_line = __LINE__;
    pthread_barrier_wait(args->step);  // 1: stored
    pthread_barrier_wait(args->step);  // 2: main destroyed the slots and made new ones
    for (int i = 0; i < args->fresh_count; i++) {
        if (ctl_has_value(args->fresh[i])) args->failed_line = __LINE__;
        if (ctl_get_i64(args->fresh[i]) != 0) args->failed_line = __LINE__;
    }
    pthread_barrier_wait(args->step);  // 3: done
    return NULL;
}

int cth_reused_slot_shows_no_stale_value(void) {
    static ctl_slot old[stale_old];
    ctl_slot *fresh = malloc(sizeof *fresh * stale_max_new);
    CHECK(fresh != NULL);
    for (int i = 0; i < stale_old; i++) CHECK(ctl_slot_create(&old[i], NULL, NULL) == CTL_OK);
    pthread_barrier_t step;
    pthread_barrier_init(&step, NULL, 2);
    stale_args args = {.old = old, .fresh = fresh, .step = &step};
    pthread_t id;
    CHECK(pthread_create(&id, NULL, stale_worker, &args) == 0);
    for (int i = 0; i < stale_old; i++) CHECK(ctl_set_i64(old[i], 7));
    pthread_barrier_wait(&step);
    for (int i = 0; i < stale_old; i++) CHECK(ctl_slot_destroy(old[i]) == CTL_OK);
    // The lowest free number is reused first, but scenarios running in
    // parallel take numbers too: keep creating (and holding) slots until some
    // of the destroyed numbers have come back.
    int reused = 0;
    while (args.fresh_count < stale_max_new && reused < 8) {
        ctl_slot *slot = &fresh[args.fresh_count++];
        CHECK(ctl_slot_create(slot, NULL, NULL) == CTL_OK);
        for (int i = 0; i < stale_old; i++) {
            if (old[i].index == slot->index) {
                CHECK(slot->generation != old[i].generation);
                reused++;
            }
        }
    }
    pthread_barrier_wait(&step);
    pthread_barrier_wait(&step);
    pthread_join(id, NULL);
    pthread_barrier_destroy(&step);
    CHECK(reused > 0);
    for (int i = 0; i < args.fresh_count; i++) CHECK(!ctl_has_value(fresh[i]));
    for (int i = 0; i < stale_old; i++) CHECK(ctl_get_i64(old[i]) == 0 && !ctl_set_i64(old[i], 1));  // stay dead
    CHECK(args.failed_line == 0);
    for (int i = 0; i < args.fresh_count; i++) CHECK(ctl_slot_destroy(fresh[i]) == CTL_OK);
    free(fresh);
    return 0;
}

// Re-entrancy during thread exit.
static ctl_slot first_slot, second_slot, stubborn_slot;
static atomic_int first_destroyed, second_destroyed, stubborn_rounds, stubborn_refused;

static void destroy_second(ctl_value value, void *context) {
    (void)value;
    (void)context;
    atomic_fetch_add(&second_destroyed, 1);
}

static void destroy_first(ctl_value value, void *context) {
    (void)context;
    atomic_fetch_add(&first_destroyed, 1);
    // Reads its own (already removed) slot and stores into another one.
    if (ctl_has_value(first_slot)) atomic_fetch_add(&first_destroyed, 1000);
    ctl_set_i64(second_slot, value.i64 + 1);
}

static void destroy_stubborn(ctl_value value, void *context) {
    (void)context;
    atomic_fetch_add(&stubborn_rounds, 1);
    int *p = value.ptr;
    // Always stores itself again: teardown must still end.
    if (!ctl_set_ptr(stubborn_slot, p)) {
        atomic_fetch_add(&stubborn_refused, 1);
        free(p);  // refused: the value is still ours
    }
}

static void *reentrant_worker(void *raw) {
    (void)raw;
    ctl_set_i64(first_slot, 1);
    ctl_set_ptr(stubborn_slot, malloc(4));
    return NULL;
}

int cth_destructor_reentrancy(void) {
    CHECK(ctl_slot_create(&first_slot, destroy_first, NULL) == CTL_OK);
    CHECK(ctl_slot_create(&second_slot, destroy_second, NULL) == CTL_OK);
    CHECK(ctl_slot_create(&stubborn_slot, destroy_stubborn, NULL) == CTL_OK);
    atomic_store(&first_destroyed, 0);
    atomic_store(&second_destroyed, 0);
    atomic_store(&stubborn_rounds, 0);
    atomic_store(&stubborn_refused, 0);
    pthread_t id;
    CHECK(pthread_create(&id, NULL, reentrant_worker, NULL) == 0);
    pthread_join(id, NULL);
    CHECK(atomic_load(&first_destroyed) == 1);
    CHECK(atomic_load(&second_destroyed) == 1);  // stored in round 1, destroyed in round 2
    // One call in each exit sweep; the value stored in the last sweep stays
    // until its slot is destroyed.
    CHECK(atomic_load(&stubborn_rounds) == CTL_EXIT_SWEEPS);
    CHECK(atomic_load(&stubborn_refused) == 0);
    CHECK(ctl_slot_destroy(first_slot) == CTL_OK);
    CHECK(ctl_slot_destroy(second_slot) == CTL_OK);
    CHECK(ctl_slot_destroy(stubborn_slot) == CTL_OK);
    // Destroyed by this thread, whose store into the dying slot is refused.
    // (That the exited thread keeps only its last value, not its block, is
    // checked by Tests/CStoreTests/test_values_left_at_exit.c, alone in its
    // process: other tests here start and end threads in parallel.)
    CHECK(atomic_load(&stubborn_rounds) == CTL_EXIT_SWEEPS + 1);
    CHECK(atomic_load(&stubborn_refused) == 1);
    return 0;
}

int cth_misuse(void) {
    ctl_slot slot;
    CHECK(ctl_slot_create(&slot, NULL, NULL) == CTL_OK);  // null destructor is allowed
    CHECK(ctl_set_i64(slot, 3));
    CHECK(ctl_slot_destroy(slot) == CTL_OK);
    CHECK(ctl_slot_destroy(slot) == CTL_EINVAL);  // twice: refused, nothing changes
    CHECK(!ctl_slot_is_live(slot));
    CHECK(!ctl_has_value(slot));
    CHECK(ctl_get_i64(slot) == 0);
    CHECK(!ctl_set_i64(slot, 4));  // use after destroy: not stored
    CHECK(!ctl_has_value(slot));
    CHECK(ctl_begin_initialization(slot) == CTL_EINVAL);
    ctl_slot never = {.ctl__lane = 3, .generation = 12345, .index = 3};
    CHECK(ctl_slot_destroy(never) == CTL_EINVAL);
    CHECK(!ctl_set_i64(never, 1));
    ctl_slot bogus = {.ctl__lane = CTL_LANE_COUNT, .generation = 1, .index = 4000000000u};
    CHECK(!ctl_has_value(bogus));
    CHECK(!ctl_set_i64(bogus, 1));
    CHECK(ctl_slot_destroy(bogus) == CTL_EINVAL);
    return 0;
}

static atomic_int fork_stop;

static void *busy_worker(void *raw) {
    ctl_slot slot = *(ctl_slot *)raw;
    while (!atomic_load(&fork_stop)) {
        ctl_slot mine;
        if (ctl_slot_create(&mine, NULL, NULL) == CTL_OK) {
            ctl_set_i64(mine, 1);
            ctl_slot_destroy(mine);
        }
        ctl_set_i64(slot, ctl_get_i64(slot) + 1);
    }
    return NULL;
}

int cth_fork_child_keeps_working(void) {
    ctl_slot slot;
    CHECK(ctl_slot_create(&slot, NULL, NULL) == CTL_OK);
    CHECK(ctl_set_i64(slot, 1234));
    atomic_store(&fork_stop, 0);
    pthread_t ids[3];
    for (int i = 0; i < 3; i++) CHECK(pthread_create(&ids[i], NULL, busy_worker, &slot) == 0);
    usleep(2000);
    int failed = 0;
    for (int round = 0; round < 20 && !failed; round++) {
        pid_t pid = fork();
        if (pid == 0) {
            // The child: one thread, a copy of this one.
            if (ctl_get_i64(slot) != 1234) _exit(1);
            if (ctl_get_stats().registered_threads != 1) _exit(2);
            ctl_slot fresh;
            if (ctl_slot_create(&fresh, NULL, NULL) != CTL_OK) _exit(3);
            if (!ctl_set_i64(fresh, 5) || ctl_get_i64(fresh) != 5) _exit(4);
            if (ctl_slot_destroy(fresh) != CTL_OK) _exit(5);
            if (!ctl_set_i64(slot, 77) || ctl_get_i64(slot) != 77) _exit(6);
            _exit(0);
        }
        if (pid < 0) {
            failed = __LINE__;
            break;
        }
        int status = 0;
        waitpid(pid, &status, 0);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) failed = __LINE__ * 100 + WEXITSTATUS(status);
    }
    atomic_store(&fork_stop, 1);
    for (int i = 0; i < 3; i++) pthread_join(ids[i], NULL);
    CHECK(failed == 0);
    CHECK(ctl_get_i64(slot) == 1234);  // the parent's value is untouched
    CHECK(ctl_slot_destroy(slot) == CTL_OK);
    return 0;
}

unsigned long long cth_heap_in_use(void) {
#if defined(__GLIBC__) && (__GLIBC__ > 2 || __GLIBC_MINOR__ >= 33)
    struct mallinfo2 info = mallinfo2();
    return (unsigned long long)info.uordblks + (unsigned long long)info.hblkhd;
#else
    return 0;
#endif
}
