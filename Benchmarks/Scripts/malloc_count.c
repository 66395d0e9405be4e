// SPDX-License-Identifier: Apache-2.0
// A malloc counter to preload into the server (LD_PRELOAD), glibc only:
//
//     cc -O2 -shared -fPIC -o malloc-count.so malloc_count.c
//
// Counts every call of malloc, calloc, realloc, posix_memalign, aligned_alloc and
// memalign, then hands it to glibc's own allocator (__libc_*), so free() needs no
// wrapper. Each thread counts in its own cache line (no shared write, no atomic
// read-modify-write on the hot path), so counting does not make allocations contend.
// malloc_count_total() sums the lines; the server finds it with dlsym.
#define _GNU_SOURCE
#include <errno.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);

#define MC_CELLS 4096

struct mc_cell {
    _Atomic uint64_t count;
    char padding[64 - sizeof(uint64_t)];
};

// Cell i belongs to the i-th thread that allocated; the last cell is shared by any
// threads beyond MC_CELLS - 1 (and updated with an atomic add).
static struct mc_cell mc_cells[MC_CELLS] __attribute__((aligned(64)));
static _Atomic uint32_t mc_next;
static __thread int32_t mc_index __attribute__((tls_model("initial-exec"))) = -1;

static inline void mc_count(void) {
    int32_t index = mc_index;
    if (index < 0) {
        uint32_t next = atomic_fetch_add_explicit(&mc_next, 1, memory_order_relaxed);
        index = next < MC_CELLS - 1 ? (int32_t)next : MC_CELLS - 1;
        mc_index = index;
    }
    _Atomic uint64_t *count = &mc_cells[index].count;
    if (index == MC_CELLS - 1) {
        atomic_fetch_add_explicit(count, 1, memory_order_relaxed);
    } else {
        // Only this thread writes its cell: a relaxed load and store lose nothing.
        atomic_store_explicit(count, atomic_load_explicit(count, memory_order_relaxed) + 1, memory_order_relaxed);
    }
}

uint64_t malloc_count_total(void) {
    uint64_t total = 0;
    for (int i = 0; i < MC_CELLS; i++) {
        total += atomic_load_explicit(&mc_cells[i].count, memory_order_relaxed);
    }
    return total;
}

void *malloc(size_t size) {
    mc_count();
    return __libc_malloc(size);
}

void *calloc(size_t count, size_t size) {
    mc_count();
    return __libc_calloc(count, size);
}

void *realloc(void *pointer, size_t size) {
    mc_count();
    return __libc_realloc(pointer, size);
}

void *memalign(size_t alignment, size_t size) {
    mc_count();
    return __libc_memalign(alignment, size);
}

void *aligned_alloc(size_t alignment, size_t size) {
    mc_count();
    return __libc_memalign(alignment, size);
}

int posix_memalign(void **result, size_t alignment, size_t size) {
    if (alignment % sizeof(void *) != 0 || (alignment & (alignment - 1)) != 0) return EINVAL;
    mc_count();
    void *pointer = __libc_memalign(alignment, size);
    if (pointer == NULL) return ENOMEM;
    *result = pointer;
    return 0;
}
