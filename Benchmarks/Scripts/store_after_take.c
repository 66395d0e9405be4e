// SPDX-License-Identifier: Apache-2.0
// A store into an empty entry (the header's ctl_set), on 1, 2 and 4 threads at
// once, next to the same loop on a pthread key. Each thread runs <pairs> pairs
// on one shared slot (or key):
//   ctl:     ctl_set_uword into its empty entry, then ctl_take;
//   pthread: pthread_setspecific, pthread_getspecific, pthread_setspecific(NULL).
// The threads start together (a barrier) and each times its own loop; a cell is
// the median over <rounds> runs of the threads' mean ns per pair: per-thread
// time, so a loop that scales is flat from 1 to 2 threads (on 2 cores; with
// more threads than cores, each thread also waits its turn).
//
//   store_after_take <pairs> <rounds>     prints the table (Markdown)
// Run by `bash Benchmarks/compare.sh --only store-after-take`.
#define _POSIX_C_SOURCE 200809L
#include "CThreadLocals.h"
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

enum { MAX_THREADS = 4, MAX_ROUNDS = 15 };
static ctl_slot slot;
static pthread_key_t key;
static long pairs;
static int threads;
static atomic_int arrived;

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e9 + t.tv_nsec;
}

// Every thread waits until all have started, so that they run side by side.
static void barrier(void) {
    atomic_fetch_add(&arrived, 1);
    while (atomic_load(&arrived) < threads) sched_yield();
}

static void *ctl_loop(void *out) {
    barrier();
    double start = now();
    for (long i = 0; i < pairs; i++) {
        ctl_set_uword(slot, (uintptr_t)i + 1);
        ctl_value v;
        ctl_take(slot, &v);
        __asm__ volatile("" ::"r"(v.uword));
    }
    *(double *)out = (now() - start) / pairs;
    return NULL;
}

static void *pthread_loop(void *out) {
    barrier();
    double start = now();
    for (long i = 0; i < pairs; i++) {
        pthread_setspecific(key, (void *)(uintptr_t)(i + 1));
        void *v = pthread_getspecific(key);
        pthread_setspecific(key, NULL);
        __asm__ volatile("" ::"r"(v));
    }
    *(double *)out = (now() - start) / pairs;
    return NULL;
}

// The threads' mean ns per pair in one run of `loop` on `n` threads.
static double run(void *(*loop)(void *), int n) {
    pthread_t t[MAX_THREADS];
    double ns[MAX_THREADS], sum = 0;
    threads = n;
    atomic_store(&arrived, 0);
    for (int i = 0; i < n; i++) pthread_create(&t[i], NULL, loop, &ns[i]);
    for (int i = 0; i < n; i++) pthread_join(t[i], NULL), sum += ns[i];
    return sum / n;
}

static int by_value(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    if (argc != 3) return fprintf(stderr, "usage: store_after_take <pairs> <rounds>\n"), 2;
    pairs = atol(argv[1]);
    int rounds = atoi(argv[2]);
    if (pairs < 1 || rounds < 1 || rounds > MAX_ROUNDS) return 2;
    if (ctl_slot_create(&slot, NULL, NULL) != 0 || pthread_key_create(&key, NULL) != 0) return 1;
    static const int counts[] = {1, 2, 4};
    double median[2][3];
    for (int c = 0; c < 3; c++) {
        double samples[2][MAX_ROUNDS];
        // Interleaved, so that a change in the machine's load hits both alike.
        for (int r = 0; r < rounds; r++) {
            samples[0][r] = run(ctl_loop, counts[c]);
            samples[1][r] = run(pthread_loop, counts[c]);
        }
        for (int v = 0; v < 2; v++) {
            qsort(samples[v], rounds, sizeof(double), by_value);
            median[v][c] = samples[v][rounds / 2];
        }
    }
    printf("ns per pair per thread (median of %d runs of %ld pairs per thread; ×: over the pthread key loop)\n\n",
           rounds, pairs);
    printf("| C, threads | 1 | 2 | 4 |\n|---|---:|---:|---:|\n");
    printf("| `ctl_set` + `ctl_take` |");
    for (int c = 0; c < 3; c++) printf(" %.1f (%.2f×) |", median[0][c], median[0][c] / median[1][c]);
    printf("\n| pthread key set + get + clear |");
    for (int c = 0; c < 3; c++) printf(" %.1f |", median[1][c]);
    printf("\n\n`ctl_set` + `ctl_take` per thread, 2 threads over 1: %.2f×; pthread key: %.2f×\n",
           median[0][1] / median[0][0], median[1][1] / median[1][0]);
    return 0;
}
