// SPDX-License-Identifier: Apache-2.0
// Shared helpers of the C store tests: checks that count failures instead of
// stopping, thread start/join that stop on error, a barrier, a
// deadline-bounded waitpid, and destructors that count what they destroy.
//
// Every test program includes this header first (it selects POSIX 2008).
#ifndef CSTORE_CHECK_H
#define CSTORE_CHECK_H

#define _POSIX_C_SOURCE 200809L

#include "CThreadLocals.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

// The store built with CTL_TESTING (run.sh): entries of thread blocks read by
// thread exits and destroys so far, and the times the store's mutex was taken.
size_t ctl__test_entries_visited(void);
size_t ctl__test_mutex_acquisitions(void);
// Called by a store without the mutex before it publishes its tag (0) and
// before it re-checks the slot (1).
extern void (*ctl__test_publish_hook)(int point);

static int check_failures;

#define CHECK(cond)                                                                  \
    do {                                                                             \
        if (!(cond)) {                                                               \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
            check_failures++;                                                        \
        }                                                                            \
    } while (0)

#define CHECK_EQ(actual, expected)                                                                                   \
    do {                                                                                                             \
        long long actual_ = (long long)(actual), expected_ = (long long)(expected);                                  \
        if (actual_ != expected_) {                                                                                  \
            fprintf(stderr, "%s:%d: CHECK_EQ failed: %s == %s (%lld, expected %lld)\n", __FILE__, __LINE__, #actual, \
                    #expected, actual_, expected_);                                                                  \
            check_failures++;                                                                                        \
        }                                                                                                            \
    } while (0)

// Stops the program: for set-up steps that the rest of the test needs.
#define REQUIRE(cond)                                                                  \
    do {                                                                               \
        if (!(cond)) {                                                                 \
            fprintf(stderr, "%s:%d: REQUIRE failed: %s\n", __FILE__, __LINE__, #cond); \
            fflush(stderr);                                                            \
            abort();                                                                   \
        }                                                                              \
    } while (0)

// Prints the verdict and returns the exit status for main.
static inline int finish(const char *name) {
    if (check_failures) {
        printf("%s: %d check(s) failed\n", name, check_failures);
        return 1;
    }
    printf("%s: ok\n", name);
    return 0;
}

// CTL_TEST_SMALL=1: heavy programs use smaller sizes (emulators, sanitizers).
static inline int small_mode(void) {
    const char *s = getenv("CTL_TEST_SMALL");
    return s != NULL && *s != '\0' && strcmp(s, "0") != 0;
}

static inline pthread_t start_thread(void *(*body)(void *), void *arg) {
    pthread_t thread;
    int rc = pthread_create(&thread, NULL, body, arg);
    if (rc != 0) {
        fprintf(stderr, "pthread_create: %s\n", strerror(rc));
        abort();
    }
    return thread;
}

static inline void join_thread(pthread_t thread) {
    int rc = pthread_join(thread, NULL);
    if (rc != 0) {
        fprintf(stderr, "pthread_join: %s\n", strerror(rc));
        abort();
    }
}

// A reusable barrier for `count` threads, built on a mutex and a condition
// variable because Darwin has no pthread_barrier_t. barrier_wait returns once
// `count` threads have called it since the last time it opened; like
// pthread_barrier_wait it is not a cancellation point.
typedef struct barrier {
    pthread_mutex_t mutex;
    pthread_cond_t opened;
    unsigned count, waiting, round;
} barrier;

static inline void barrier_init(barrier *b, unsigned count) {
    REQUIRE(count > 0);
    REQUIRE(pthread_mutex_init(&b->mutex, NULL) == 0);
    REQUIRE(pthread_cond_init(&b->opened, NULL) == 0);
    b->count = count;
    b->waiting = 0;
    b->round = 0;
}

static inline void barrier_wait(barrier *b) {
    int cancel_state;
    pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &cancel_state);
    pthread_mutex_lock(&b->mutex);
    unsigned round = b->round;
    if (++b->waiting == b->count) {
        b->waiting = 0;
        b->round++;
        pthread_cond_broadcast(&b->opened);
    } else {
        while (b->round == round) pthread_cond_wait(&b->opened, &b->mutex);
    }
    pthread_mutex_unlock(&b->mutex);
    pthread_setcancelstate(cancel_state, NULL);
}

// Only once no thread is in barrier_wait (the tests destroy after joining).
static inline void barrier_destroy(barrier *b) {
    REQUIRE(pthread_cond_destroy(&b->opened) == 0);
    REQUIRE(pthread_mutex_destroy(&b->mutex) == 0);
}

static inline void sleep_ns(long ns) {
    struct timespec ts = {ns / 1000000000L, ns % 1000000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static inline double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static inline ctl_slot make_slot(ctl_destructor destructor, void *context) {
    ctl_slot slot;
    int rc = ctl_slot_create(&slot, destructor, context);
    if (rc != CTL_OK) {
        fprintf(stderr, "ctl_slot_create failed: %d\n", rc);
        abort();
    }
    return slot;
}

// Waits for `child` for at most `seconds`; kills it and returns -1 if it has
// not exited by then. Otherwise returns its exit status (128 + signal if it
// was killed by a signal).
static inline int wait_child(pid_t child, double seconds) {
    double deadline = now_seconds() + seconds;
    for (;;) {
        int status;
        pid_t r = waitpid(child, &status, WNOHANG);
        if (r == child) {
            if (WIFEXITED(status)) return WEXITSTATUS(status);
            if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
            return -2;
        }
        if (r < 0 && errno != EINTR) return -3;
        if (now_seconds() > deadline) {
            fprintf(stderr, "child %d still running after %.0f s: killed\n", (int)child, seconds);
            kill(child, SIGKILL);
            waitpid(child, &status, 0);
            return -1;
        }
        sleep_ns(1000000);
    }
}

// A destructor whose context is an atomic_int that counts its calls.
static inline void count_call(ctl_value value, void *context) {
    (void)value;
    atomic_fetch_add((atomic_int *)context, 1);
}

// A destructor context that counts each value: values are small ids
// (0 ..< capacity), stored with ctl_set_uword. `hits[id]` counts the calls
// for that id, `total` all calls.
typedef struct tally {
    atomic_int total;
    int capacity;
    atomic_int *hits;
} tally;

static inline void tally_init(tally *t, int capacity) {
    atomic_init(&t->total, 0);
    t->capacity = capacity;
    t->hits = calloc((size_t)capacity, sizeof *t->hits);
    REQUIRE(t->hits != NULL);
    for (int i = 0; i < capacity; i++) atomic_init(&t->hits[i], 0);
}

static inline void tally_free(tally *t) { free(t->hits); }

static inline void count_value(ctl_value value, void *context) {
    tally *t = context;
    uintptr_t id = value.uword;
    if (id < (uintptr_t)t->capacity) atomic_fetch_add(&t->hits[id], 1);
    else fprintf(stderr, "destructor got an unknown value %lu\n", (unsigned long)id);
    atomic_fetch_add(&t->total, 1);
}

// Checks that ids [from, to) were each destroyed exactly `times` times.
#define CHECK_HITS(t, from, to, times)                                                                            \
    do {                                                                                                          \
        int bad_ = 0;                                                                                             \
        for (int id_ = (from); id_ < (to); id_++)                                                                 \
            if (atomic_load(&(t)->hits[id_]) != (times)) {                                                        \
                if (bad_++ < 5)                                                                                   \
                    fprintf(stderr, "%s:%d: value %d destroyed %d times, expected %d\n", __FILE__, __LINE__, id_, \
                            atomic_load(&(t)->hits[id_]), (times));                                               \
            }                                                                                                     \
        if (bad_) check_failures++;                                                                               \
    } while (0)

#endif  // CSTORE_CHECK_H
