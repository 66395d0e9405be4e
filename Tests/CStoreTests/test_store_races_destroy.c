// SPDX-License-Identifier: Apache-2.0
// A store into an empty entry, made without the store's mutex, racing with a
// destroy of its slot: the store either lands before the destroy takes it
// (true, and the destroy destroys the value once) or fails (false, and the
// value stays the caller's: never destroyed). Never both, never neither: each
// value is accounted for exactly once, and no entry of the dead slot is left
// behind (the thread's exit destroys nothing more). Lazy initialisation
// (begin, then finish) races the same way.
// 1. Deterministic: the whole destroy runs at each point of the store's
//    handshake (the store built with CTL_TESTING calls a hook there): before
//    the store publishes its tag (the store fails) and between publishing and
//    re-checking (the destroy takes the value; the store returns true).
// 2. Many rounds, each started by a barrier so that the store and the
//    destroy's pass overlap anywhere.
// 3. The initialiser stores its value itself (ctl_set over its own mark)
//    while the slot is destroyed. Each round's handle reaches the owner
//    with release/acquire (as any handle a program shares), but the owner
//    tells the destroying thread to go on with a relaxed store only, so that
//    nothing but the store orders the race itself: under ThreadSanitizer,
//    the owner's plain reads of its tag must race with no write (the destroy
//    never writes a mark, only a value the owner published).
#include "check.h"

enum { rounds = 20000, workers = 2 };

static tally destroyed;
static ctl_slot current;
static barrier start, done;
static atomic_int stored_ids[workers][rounds];  // 1: store returned true
static atomic_int exit_calls;

static void count_exit(ctl_value value, void *context) {
    (void)context;
    (void)value;
    atomic_fetch_add(&exit_calls, 1);
}

static void *worker(void *arg) {
    int w = (int)(intptr_t)arg;
    ctl_slot keep = make_slot(count_exit, NULL);  // registers this thread
    CHECK(ctl_set_uword(keep, 1));
    for (int r = 0; r < rounds; r++) {
        barrier_wait(&start);
        ctl_slot s = current;
        uintptr_t id = (uintptr_t)(r * workers + w);
        bool ok;
        if (r % 2 == 0) {
            ok = ctl_set_uword(s, id);
        } else {
            int begun = ctl_begin_initialization(s);
            ok = begun == CTL_OK && ctl_finish_initialization(s, (ctl_value){.uword = id});
            if (begun == CTL_OK && !ok) ctl_cancel_initialization(s);
            CHECK(begun == CTL_OK || begun == CTL_EINVAL);
        }
        atomic_store(&stored_ids[w][r], ok ? 1 : 0);
        barrier_wait(&done);
        // The destroy has returned: nothing of the slot is left here.
        CHECK(!ctl_has_value(s));
        CHECK(!ctl_take(s, NULL));
    }
    CHECK(ctl_take(keep, NULL));
    CHECK_EQ(ctl_slot_destroy(keep), CTL_OK);
    return NULL;
}

// Part 1: the hook runs the destroy on the main thread while the storing
// thread waits at `armed` (the destroy never waits for the storing thread).
static atomic_int armed = -1, destroy_requested, destroy_finished;

static void hook(int point) {
    if (point != atomic_load(&armed)) return;
    atomic_store(&armed, -1);
    atomic_store(&destroy_requested, 1);
    while (!atomic_load(&destroy_finished)) sleep_ns(100000);
}

typedef struct scenario {
    int point;
    bool initialization;
    ctl_slot slot;
    bool stored;
} scenario;

static void *store_at_point(void *arg) {
    scenario *sc = arg;
    ctl_slot other = make_slot(NULL, NULL);
    CHECK(ctl_set_uword(other, 1));  // registered before the race
    if (sc->initialization) {
        CHECK_EQ(ctl_begin_initialization(sc->slot), CTL_OK);
        atomic_store(&armed, sc->point);
        sc->stored = ctl_finish_initialization(sc->slot, (ctl_value){.uword = 1});
    } else {
        atomic_store(&armed, sc->point);
        sc->stored = ctl_set_uword(sc->slot, 1);
    }
    CHECK(!ctl_has_value(sc->slot));
    CHECK(!ctl_take(sc->slot, NULL));
    CHECK(ctl_take(other, NULL));
    CHECK_EQ(ctl_slot_destroy(other), CTL_OK);
    return NULL;
}

static void run_scenario(int point, bool initialization) {
    tally t;
    tally_init(&t, 2);
    scenario sc = {.point = point, .initialization = initialization, .slot = make_slot(count_value, &t)};
    atomic_store(&destroy_requested, 0);
    atomic_store(&destroy_finished, 0);
    ctl__test_publish_hook = hook;
    pthread_t thread = start_thread(store_at_point, &sc);
    while (!atomic_load(&destroy_requested)) sleep_ns(100000);
    CHECK_EQ(ctl_slot_destroy(sc.slot), CTL_OK);
    atomic_store(&destroy_finished, 1);
    join_thread(thread);
    ctl__test_publish_hook = NULL;
    // Before the tag is published, the destroy's pass cannot see the value:
    // the store fails. After, the destroy takes it: the store succeeded.
    CHECK_EQ(sc.stored, point == 1);
    CHECK_EQ(atomic_load(&t.hits[1]), point == 1 ? 1 : 0);
    tally_free(&t);
}

// Part 3.
static atomic_int phase;
static atomic_uint mark_lane, mark_generation, mark_index;
static tally mark_destroyed;
static atomic_int mark_stored;

static void *initialise_and_store(void *arg) {
    int rounds_ = *(int *)arg;
    ctl_slot keep = make_slot(NULL, NULL);
    CHECK(ctl_set_uword(keep, 1));  // registered before the races
    for (int r = 0; r < rounds_; r++) {
        while (atomic_load_explicit(&phase, memory_order_acquire) != 2 * r + 1) {
        }
        ctl_slot s = {atomic_load_explicit(&mark_lane, memory_order_relaxed),
                      atomic_load_explicit(&mark_generation, memory_order_relaxed),
                      atomic_load_explicit(&mark_index, memory_order_relaxed)};
        int begun = ctl_begin_initialization(s);
        CHECK(begun == CTL_OK || begun == CTL_EINVAL);
        atomic_store_explicit(&phase, 2 * r + 2, memory_order_relaxed);
        for (volatile int spin = 0; spin < (r % 50) * 20; spin++) {
        }
        if (ctl_set_uword(s, (uintptr_t)r)) atomic_fetch_add(&mark_stored, 1);
    }
    CHECK(ctl_take(keep, NULL));
    CHECK_EQ(ctl_slot_destroy(keep), CTL_OK);
    return NULL;
}

static void run_mark_races(int n) {
    tally_init(&mark_destroyed, n);
    pthread_t thread = start_thread(initialise_and_store, &n);
    for (int r = 0; r < n; r++) {
        ctl_slot s = make_slot(count_value, &mark_destroyed);
        atomic_store_explicit(&mark_lane, s.ctl__lane, memory_order_relaxed);
        atomic_store_explicit(&mark_generation, s.generation, memory_order_relaxed);
        atomic_store_explicit(&mark_index, s.index, memory_order_relaxed);
        atomic_store_explicit(&phase, 2 * r + 1, memory_order_release);
        while (atomic_load_explicit(&phase, memory_order_relaxed) != 2 * r + 2) {
        }
        CHECK_EQ(ctl_slot_destroy(s), CTL_OK);
    }
    join_thread(thread);
    // Every value the initialiser stored was destroyed by its slot's destroy
    // (once), and no other.
    CHECK_EQ(atomic_load(&mark_destroyed.total), atomic_load(&mark_stored));
    tally_free(&mark_destroyed);
}

int main(void) {
    run_mark_races(small_mode() ? 50 : 200);
    // Part 1 for a slot in the lanes, then for one in a chunk (the store's
    // two paths into an empty entry).
    for (int point = 0; point <= 1; point++) {
        run_scenario(point, false);
        run_scenario(point, true);
    }
    ctl_slot fillers[CTL_LANE_COUNT];
    for (int i = 0; i < CTL_LANE_COUNT; i++) fillers[i] = make_slot(NULL, NULL);
    for (int point = 0; point <= 1; point++) {
        run_scenario(point, false);
        run_scenario(point, true);
    }
    for (int i = 0; i < CTL_LANE_COUNT; i++) CHECK_EQ(ctl_slot_destroy(fillers[i]), CTL_OK);

    tally_init(&destroyed, rounds * workers);
    barrier_init(&start, workers + 1);
    barrier_init(&done, workers + 1);
    current = make_slot(count_value, &destroyed);
    pthread_t threads[workers];
    for (int w = 0; w < workers; w++) threads[w] = start_thread(worker, (void *)(intptr_t)w);
    int landed = 0;
    for (int r = 0; r < rounds; r++) {
        barrier_wait(&start);
        // A few iterations of delay, varied, so that the destroy's pass
        // falls before, between and after the workers' publish and re-check.
        for (volatile int spin = 0; spin < (r * 7) % 200; spin++) {
        }
        CHECK_EQ(ctl_slot_destroy(current), CTL_OK);
        barrier_wait(&done);
        if (r + 1 < rounds) current = make_slot(count_value, &destroyed);
    }
    for (int w = 0; w < workers; w++) join_thread(threads[w]);
    int bad = 0;
    for (int r = 0; r < rounds; r++)
        for (int w = 0; w < workers; w++) {
            int id = r * workers + w;
            int expected = atomic_load(&stored_ids[w][r]);
            landed += expected;
            if (atomic_load(&destroyed.hits[id]) != expected && bad++ < 5)
                fprintf(stderr, "value %d: store returned %s, destroyed %d times\n", id, expected ? "true" : "false",
                        atomic_load(&destroyed.hits[id]));
        }
    if (bad) check_failures++;
    printf("store_races_destroy: %d of %d stores landed before the destroy took them, the rest failed\n", landed,
           rounds * workers);
    CHECK_EQ(atomic_load(&exit_calls), 0);
    barrier_destroy(&start);
    barrier_destroy(&done);
    tally_free(&destroyed);
    return finish("store_races_destroy");
}
