// SPDX-License-Identifier: Apache-2.0
// CRawTLS: the floor of the benchmarks. One raw `_Thread_local` integer,
// reached through static inline accessors, with nothing else on the path.
//
// As in swift-nio's CNIOPosix, the variable is declared `extern` here and
// defined once in raw_tls.c (a `static _Thread_local` in a header would give
// every translation unit its own copy), with the initial-exec TLS model so that
// every access is one %fs-relative instruction.
//
// Each accessor ends with an empty `asm volatile("" ::: "memory")`: it emits no
// instruction but tells the compiler that memory may have changed, so a loop of
// accesses is not folded into one. `rtls_barrier()` is that barrier alone; the
// benchmark loops call it once per iteration for every case, so that no case
// can hoist its access out of the loop.

#ifndef CRAWTLS_H
#define CRAWTLS_H

#include <stdint.h>

#define RTLS_INLINE static inline __attribute__((always_inline))

extern _Thread_local int64_t rtls_counter __attribute__((tls_model("initial-exec")));

/// A compiler barrier: no instruction, but no memory access moves across it.
RTLS_INLINE void rtls_barrier(void) { __asm__ volatile("" ::: "memory"); }

/// This thread's counter.
RTLS_INLINE int64_t rtls_get(void) {
    rtls_barrier();
    return rtls_counter;
}

/// Sets this thread's counter.
RTLS_INLINE void rtls_set(int64_t value) {
    rtls_counter = value;
    rtls_barrier();
}

/// Adds one to this thread's counter (wrapping, as C's unsigned arithmetic).
RTLS_INLINE void rtls_increment(void) {
    rtls_counter = (int64_t)((uint64_t)rtls_counter + 1);
    rtls_barrier();
}

#endif
