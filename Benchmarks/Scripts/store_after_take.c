// SPDX-License-Identifier: Apache-2.0
// The cost of a store after ctl_take (the header's ctl_set): each thread runs
// <pairs> pairs of ctl_set_uword into its empty entry and ctl_take, on one
// slot. Run by Benchmarks/store-after-take.sh, which counts instructions too.
//
// Usage: store_after_take <pairs> <threads>   prints wall-clock ns per pair
#define _POSIX_C_SOURCE 200809L
#include "CThreadLocals.h"
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
static ctl_slot s;
static long pairs;
static void *run(void *arg) {
    (void)arg;
    for (long i = 0; i < pairs; i++) {
        ctl_set_uword(s, (uintptr_t)i + 1);
        ctl_value v;
        ctl_take(s, &v);
        __asm__ volatile("" ::"r"(v.uword));
    }
    return NULL;
}
int main(int argc, char **argv) {
    if (argc != 3) return 2;
    pairs = atol(argv[1]);
    int threads = atoi(argv[2]);
    if (threads < 1 || threads > 2) return 2;
    ctl_slot_create(&s, NULL, NULL);
    pthread_t t[2];
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (int i = 0; i < threads; i++) pthread_create(&t[i], NULL, run, NULL);
    for (int i = 0; i < threads; i++) pthread_join(t[i], NULL);
    clock_gettime(CLOCK_MONOTONIC, &b);
    double ns = (b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec);
    printf("threads %d: %.1f ns per set+take pair (wall / pairs per thread)\n", threads, ns / pairs);
    return 0;
}
