// SPDX-License-Identifier: Apache-2.0
//===----------------------------------------------------------------------===//
//
// CThreadLocals: the slow paths of the slot store. The contract is in
// `CThreadLocals.h`; the design, and every term used here (lanes, chunks,
// registration, sweeps, in flight, left values, draining), in the DocC
// article "How it works" (Sources/ThreadLocals/ThreadLocals.docc/HowItWorks.md).
//
// Invariants of this file:
// - Slot create and destroy, a thread's registration and its exit run under
//   one mutex (`store.lock`). A thread's own operations on a live slot (stores
//   into an empty entry, lazy initialisation, take) take no lock: they touch
//   only the calling thread's own registered block, and a store races with a
//   destroy of its slot through the publish / re-check handshake
//   (`publish`), the one place where two threads write one entry.
// - Nothing waits for another thread.
// - Process-level set-up (the exit key, the fork handlers, pinning) happens
//   once, when the object containing the store is loaded (`store_load`).
// - A destructor runs with the mutex released and cancellation disabled; an
//   exiting thread runs one at a time (`running`, counted in `inflight`).
// - A slot number goes back to the free list only after its destroy has
//   finished and its in-flight count is 0.
// - Blocks are heap memory owned by the store: a thread that reaches another
//   thread's block through `store.threads` never reads the stack or TLS of a
//   thread that has gone.
// - The lock protocol is modelled in Tests/Model.
//
//===----------------------------------------------------------------------===//

#if !defined(_GNU_SOURCE)
#define _GNU_SOURCE  // dladdr, dl_iterate_phdr
#endif

// The C library's headers first: with `-fmodules`, "CThreadLocals.h" is a
// module import whose own inclusion of them (without _GNU_SOURCE) would
// otherwise hide `dladdr` from this file.
#include <dlfcn.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#if defined(__linux__)
#include <sys/syscall.h>
#include <unistd.h>
// The membarrier commands (linux/membarrier.h, which musl's toolchain may
// not ship): a stable kernel ABI since Linux 4.14.
enum {
    membarrier_query = 0,
    membarrier_private_expedited = 1 << 3,
    membarrier_register_private_expedited = 1 << 4,
};
#endif
#if defined(__has_include) && __has_include(<link.h>) && !defined(__APPLE__)
#include <link.h>
#define HAVE_DL_ITERATE_PHDR 1
#endif

#include "CThreadLocals.h"

// What this file defines of the header binds within this copy of the store
// (ELF protected visibility): still exported, but calls and TLS accesses made
// by code linked into the same object (the store itself, and the inline
// accessors compiled into the object's other files) never go to another copy
// that a later `dlopen(RTLD_GLOBAL)` put first in the global scope. Darwin's
// two-level namespace binds them so already.
#if defined(__ELF__)
#define CTL_DEFINE __attribute__((visibility("protected")))
#else
#define CTL_DEFINE
#endif

// The block of every thread that has not stored a value. Never written: a
// store misses on its tags and takes the slow path, which gives the thread a
// block of its own.
static const ctl__thread_block empty_block = {
    .tags = {[0 ... CTL_LANE_COUNT] = CTL__TAG_EMPTY},
};

CTL_DEFINE CTL__THREAD_LOCAL ctl__thread_block *ctl__tls CTL__TLS_MODEL = (ctl__thread_block *)&empty_block;

_Static_assert(sizeof(void *) != 8 || sizeof(ctl__thread_block) == 824, "GettingStarted.md gives 824 bytes per thread");

#define EMPTY_BLOCK ((ctl__thread_block *)&empty_block)

// The largest generation: below CTL__TAG_INITIALIZING, so that a tag with
// the flag set is no generation and not CTL__TAG_EMPTY. Tests may lower it to
// reach retirement quickly.
#ifndef CTL__MAX_GENERATION
#define CTL__MAX_GENERATION 0x7ffffffeu
#endif
#if CTL__MAX_GENERATION >= CTL__TAG_INITIALIZING
#error "generations must stay below the tag flag"
#endif

enum {
    fallback_batch = 64,
};

// The states of a slot number (HowItWorks, "Destroying a slot").
typedef enum slot_state {
    slot_free = 0,    // on the free list, or retired
    slot_live,        // created and not destroyed
    slot_destroying,  // ctl_slot_destroy is running
    slot_draining,    // destroyed; exit-time destructor calls still in flight
} slot_state;

typedef struct slot_info {
    ctl_destructor destructor;
    void *context;
    uint32_t generation;  // of the live slot, or of the last one on this number
    uint32_t state;       // slot_state
    // Destructor calls for this slot that exiting threads are running now.
    uint32_t inflight;
    // Values that exited threads left in this slot (stored during their last
    // exit sweep), destroyed with the slot: `left_count` of `left_capacity`.
    uint32_t left_count;
    uint32_t left_capacity;
    ctl_value *left;
} slot_info;

// The liveness words: one per slot number, the live slot's generation or 0,
// read without the mutex by a thread's own stores (`publish`). Written under
// the mutex by create (the generation, after the slot's info) and destroy (0,
// before its pass). Page `p` holds the `CTL_LANE_COUNT << p` numbers from
// `CTL_LANE_COUNT * (2^p - 1)` on; pages are allocated under the mutex,
// published with release and never moved or freed, so a reader without the
// mutex never reads freed memory.
enum { liveness_pages = 27 };  // 64 * (2^27 - 1) > UINT32_MAX numbers
static _Atomic(_Atomic uint32_t *) liveness[liveness_pages];

#define INLINE static inline __attribute__((always_inline))

INLINE uint32_t liveness_page_of(uint32_t index, uint32_t *offset) {
    if (__builtin_expect(index < CTL_LANE_COUNT, 1)) {
        *offset = index;
        return 0;
    }
    uint64_t q = (uint64_t)index / CTL_LANE_COUNT + 1;
    uint32_t page = 63 - (uint32_t)__builtin_clzll(q);
    *offset = (uint32_t)(index - (uint64_t)CTL_LANE_COUNT * ((1ull << page) - 1));
    return page;
}

// The slot number's liveness word, or NULL if its page does not exist yet.
INLINE _Atomic uint32_t *liveness_word(uint32_t index) {
    uint32_t offset, page = liveness_page_of(index, &offset);
    _Atomic uint32_t *words = atomic_load_explicit(&liveness[page], memory_order_acquire);
    return words ? &words[offset] : NULL;
}

// Whether `slot` is live now, without the mutex. An acquire load, so that a
// thread that sees a slot live also sees the create and everything the
// destroy of the number's previous slot did before it; the re-check of
// `publish` is ordered by the handshake's fences.
INLINE bool live_now(ctl_slot slot) {
    _Atomic uint32_t *word = liveness_word(slot.index);
    return word != NULL && atomic_load_explicit(word, memory_order_acquire) == slot.generation &&
           slot.generation != 0 && slot.ctl__lane == (slot.index < CTL_LANE_COUNT ? slot.index : CTL_LANE_COUNT);
}

static struct {
    pthread_mutex_t lock;
    slot_info *slots;
    uint32_t slot_count;  // slot numbers handed out so far
    uint32_t slot_capacity;
    uint32_t *free_list;  // destroyed slot numbers: a min-heap, lowest reused first
    uint32_t free_count;
    uint32_t free_capacity;
    size_t live_slots;
    size_t thread_count;
    size_t left_values;  // sum of every slot's left_count
    ctl__thread_block *threads;
    // Blocks of exited threads kept for reuse (see `keep_or_free`), linked
    // through `next`.
    ctl__thread_block *spare_blocks;
    uint32_t spare_count;
    pthread_key_t exit_key;
    int exit_key_error;  // of the last attempt to create `exit_key`; 0 once it exists
} store = {
    .lock = PTHREAD_MUTEX_INITIALIZER,
    .exit_key_error = EAGAIN,
};

// CTL_TESTING: counts the entries of thread blocks that thread exits and
// destroys read, and the times the mutex was taken, so that tests can check
// what a slow path does.
#if defined(CTL_TESTING)
static size_t entries_visited, mutex_acquisitions;
#define VISIT() (entries_visited++)
#define ACQUIRED() (mutex_acquisitions++)
// Called by `publish` before it writes the tag (0) and before its re-check
// (1), so that a test can run a destroy exactly there.
CTL_DEFINE void (*ctl__test_publish_hook)(int point);
#define PUBLISH_POINT(point) (ctl__test_publish_hook ? ctl__test_publish_hook(point) : (void)0)
CTL_DEFINE size_t ctl__test_entries_visited(void);
CTL_DEFINE size_t ctl__test_mutex_acquisitions(void);
#else
#define VISIT() ((void)0)
#define ACQUIRED() ((void)0)
#define PUBLISH_POINT(point) ((void)0)
#endif

static void thread_exit(void *block);
static ctl__thread_block *register_thread(void);
static ctl__thread_block *register_locked(void);

static void lock(void) {
    pthread_mutex_lock(&store.lock);
    ACQUIRED();
}
static void unlock(void) { pthread_mutex_unlock(&store.lock); }

static const ctl_slot no_slot = {0, 0, 0};

// ---------------------------------------------------------------------------
// Slot numbers

// The free list is a binary min-heap, so that the lowest free number is reused
// first and live slots stay in the lanes when they can.
static uint32_t pop_free(void) {
    uint32_t *h = store.free_list;
    uint32_t top = h[0], n = --store.free_count, i = 0;
    uint32_t last = h[n];
    for (;;) {
        uint32_t child = 2 * i + 1;
        if (child >= n) break;
        if (child + 1 < n && h[child + 1] < h[child]) child++;
        if (h[child] >= last) break;
        h[i] = h[child];
        i = child;
    }
    if (n > 0) h[i] = last;
    return top;
}

static void push_free(uint32_t index) {
    if (store.free_count == store.free_capacity) {
        uint32_t capacity = store.free_capacity ? store.free_capacity * 2 : 64;
        uint32_t *list = realloc(store.free_list, capacity * sizeof *list);
        // Without room in the free list the number is simply never reused.
        if (list == NULL) return;
        store.free_list = list;
        store.free_capacity = capacity;
    }
    uint32_t *h = store.free_list;
    uint32_t i = store.free_count++;
    while (i > 0 && h[(i - 1) / 2] > index) {
        h[i] = h[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    h[i] = index;
}

// Gives a destroyed number back once no destructor call for it is in flight.
// A number whose generation is exhausted is retired instead: a stale handle
// of it can then never match again. Lock held.
static void release_number(uint32_t index) {
    slot_info *info = &store.slots[index];
    info->state = slot_free;
    info->destructor = NULL;
    info->context = NULL;
    if (info->generation < CTL__MAX_GENERATION) push_free(index);
}

static uint32_t lane_of(uint32_t index) { return index < CTL_LANE_COUNT ? index : CTL_LANE_COUNT; }

static bool is_live(ctl_slot slot) {
    return slot.index < store.slot_count && store.slots[slot.index].state == slot_live &&
           store.slots[slot.index].generation == slot.generation && slot.ctl__lane == lane_of(slot.index);
}

// An exit-time destructor call for `index` ended. Lock held.
static void end_inflight(uint32_t index) {
    slot_info *info = &store.slots[index];
    info->inflight--;
    if (info->inflight == 0 && info->state == slot_draining) release_number(index);
}

// ---------------------------------------------------------------------------
// Per-thread blocks

// A block's entry of one slot number: its tag and its value.
typedef struct entry_ref {
    uint32_t *tag;
    ctl_value *value;
} entry_ref;

// The entry of `index` in `t`; `tag` is NULL if its chunk does not exist.
// Caller: `t`'s own thread, or any thread holding the lock. The owner grows
// its chunk directory without the lock: the count is read before the
// directory (the owner stores them in the other order, with release), and a
// replaced directory stays allocated until the block is freed.
INLINE entry_ref entry_in(ctl__thread_block *t, uint32_t index) {
    if (index < CTL_LANE_COUNT) return (entry_ref){&t->tags[index], &t->values[index]};
    uint32_t c = index / CTL_LANE_COUNT;
    if (c >= __atomic_load_n(&t->chunk_count, __ATOMIC_ACQUIRE)) return (entry_ref){NULL, NULL};
    ctl__entry **chunks = __atomic_load_n(&t->chunks, __ATOMIC_ACQUIRE);
    ctl__entry *chunk = __atomic_load_n(&chunks[c], __ATOMIC_ACQUIRE);
    if (chunk == NULL) return (entry_ref){NULL, NULL};
    ctl__entry *e = &chunk[index % CTL_LANE_COUNT];
    return (entry_ref){&e->tag, &e->value};
}

// Tags are read and written atomically wherever another thread may write
// them too: a destroy's pass and a racing store both change a tag only by
// compare-and-swap (`publish`, `take_values`).
// An initialisation mark (of any generation); the empty tag has the flag set
// too.
INLINE bool is_mark(uint32_t tag) { return (tag & CTL__TAG_INITIALIZING) != 0 && tag != CTL__TAG_EMPTY; }

INLINE uint32_t tag_of(entry_ref e) { return __atomic_load_n(e.tag, __ATOMIC_ACQUIRE); }

INLINE bool swap_tag(entry_ref e, uint32_t expected, uint32_t desired) {
    return __atomic_compare_exchange_n(e.tag, &expected, desired, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
}

static void clear_entry(entry_ref e) {
    __atomic_store_n(e.tag, CTL__TAG_EMPTY, __ATOMIC_RELAXED);
    e.value->u64 = 0;
}

// Empties an entry and returns the value it held. A signal handler on the
// entry's thread writes the value only while the tag matches (the fast path),
// so the tag is emptied first: a handler that ran before wrote a value that
// is read afterwards, and one that runs later finds no value.
INLINE ctl_value take_entry(entry_ref e) {
    __atomic_store_n(e.tag, CTL__TAG_EMPTY, __ATOMIC_RELAXED);
    atomic_signal_fence(memory_order_seq_cst);
    ctl_value value = *e.value;
    e.value->u64 = 0;
    return value;
}

// Frees a block, its chunks and every chunk directory it had: a replaced
// directory is linked from its successor's unused element 0.
static void free_chunks(ctl__thread_block *t) {
    for (uint32_t c = 1; c < t->chunk_count; c++) free(t->chunks[c]);
    ctl__entry **directory = t->chunks;
    while (directory) {
        ctl__entry **replaced = (ctl__entry **)(void *)directory[0];
        free(directory);
        directory = replaced;
    }
    t->chunks = NULL;
    t->chunk_count = 0;
}

static void free_block(ctl__thread_block *t) {
    free_chunks(t);
    free(t);
}

// Keeps an exited thread's block (its chunks freed) for the next thread to
// register, up to `spare_capacity` blocks, or frees it: a thread's first store
// then needs no `malloc` in a process whose threads come and go. Lock held.
enum { spare_capacity = 64 };

static void keep_or_free(ctl__thread_block *t) {
    if (store.spare_count < spare_capacity) {
        t->next = store.spare_blocks;
        store.spare_blocks = t;
        store.spare_count++;
    } else {
        free(t);
    }
}

static void unlink_block(ctl__thread_block *t) {
    if (t->prev) t->prev->next = t->next;
    else store.threads = t->next;
    if (t->next) t->next->prev = t->prev;
    t->next = t->prev = NULL;
    store.thread_count--;
}

// The calling thread's own block, registering the thread first if needed
// (the one time a thread's own store takes the mutex); NULL if memory or the
// pthread key ran out.
INLINE ctl__thread_block *own_block(void) {
    ctl__thread_block *t = ctl__tls;
    if (__builtin_expect(t != EMPTY_BLOCK, 1)) return t;
    return register_locked();
}

static ctl__thread_block *register_locked(void) {
    lock();
    ctl__thread_block *t;
    t = register_thread();
    unlock();
    return t;
}

// Registers the calling thread. Lock held.
static ctl__thread_block *register_thread(void) {
    ctl__thread_block *t = ctl__tls;
    if (t != EMPTY_BLOCK) return t;
    if (store.exit_key_error != 0) return NULL;
    t = store.spare_blocks;
    if (t != NULL) {
        store.spare_blocks = t->next;
        store.spare_count--;
    } else {
        t = malloc(sizeof *t);
        if (t == NULL) return NULL;
    }
    // Tags empty and no chunks; values are read only where a tag matches.
    memset(t->tags, 0xff, sizeof t->tags);
    t->chunks = NULL;
    t->chunk_count = 0;
    t->running = no_slot;
    if (pthread_setspecific(store.exit_key, t) != 0) {
        keep_or_free(t);
        return NULL;
    }
    t->prev = NULL;
    t->next = store.threads;
    if (store.threads) store.threads->prev = t;
    store.threads = t;
    store.thread_count++;
    // A signal handler on this thread sees either the empty block or the
    // complete new one.
    atomic_signal_fence(memory_order_release);
    ctl__tls = t;
    return t;
}

// The entry of `index` in the calling thread's own block `t`, allocating its
// chunk; `tag` is NULL if memory ran out. No lock: only the owner changes its
// directory and chunks. A destroy reading them under the mutex, or a signal
// handler interrupting this thread, sees either the old directory or the
// complete new one: the pointer is stored before the larger count, both with
// release, and the old directory is linked from the new one's element 0
// (unused by lookups) and freed only with the block.
static entry_ref grow_entry(ctl__thread_block *t, uint32_t index);

INLINE entry_ref ensure_entry(ctl__thread_block *t, uint32_t index) {
    if (__builtin_expect(index < CTL_LANE_COUNT, 1)) return entry_in(t, index);
    return grow_entry(t, index);
}

static entry_ref grow_entry(ctl__thread_block *t, uint32_t index) {
    uint32_t c = index / CTL_LANE_COUNT;
    if (c >= t->chunk_count) {
        uint32_t count = t->chunk_count ? t->chunk_count : 2;
        while (count <= c) count *= 2;
        ctl__entry **chunks = calloc(count, sizeof *chunks);
        if (chunks == NULL) return (entry_ref){NULL, NULL};
        ctl__entry **old = t->chunks;
        if (old) memcpy(chunks + 1, old + 1, (t->chunk_count - 1) * sizeof *chunks);
        chunks[0] = (ctl__entry *)(void *)old;
        __atomic_store_n(&t->chunks, chunks, __ATOMIC_RELEASE);
        __atomic_store_n(&t->chunk_count, count, __ATOMIC_RELEASE);
    }
    if (t->chunks[c] == NULL) {
        ctl__entry *chunk = malloc(CTL_LANE_COUNT * sizeof(ctl__entry));
        if (chunk == NULL) return (entry_ref){NULL, NULL};
        for (int i = 0; i < CTL_LANE_COUNT; i++) chunk[i] = (ctl__entry){.tag = CTL__TAG_EMPTY};
        __atomic_store_n(&t->chunks[c], chunk, __ATOMIC_RELEASE);
    }
    return entry_in(t, index);
}

// The two fences of the handshake below, a store's and a destroy's. Where
// the kernel offers it (Linux `membarrier`, registered at load time), they
// are asymmetric: a store's fence is a compiler barrier, and a destroy's
// makes every running thread of the process execute a full barrier before it
// returns, which orders each store's tag write and re-check as a full fence
// there would. Elsewhere both are full fences (and where tests define
// CTL_FULL_FENCES). Decided once, at load time.
static bool asymmetric_fences;

INLINE void store_fence(void) {
    if (__builtin_expect(asymmetric_fences, 1)) atomic_signal_fence(memory_order_seq_cst);
    else atomic_thread_fence(memory_order_seq_cst);
}

static void destroy_fence(void) {
    atomic_thread_fence(memory_order_seq_cst);
#if defined(SYS_membarrier)
    if (asymmetric_fences && syscall(SYS_membarrier, membarrier_private_expedited, 0, 0) != 0) {
        // Never, once registered: without it a store could be lost.
        fputs("CThreadLocals: membarrier(2) failed after the store registered for it at load time (a seccomp "
              "filter installed later?); a store could be lost. Build the store with CTL_FULL_FENCES to use full "
              "fences instead\n",
              stderr);
        abort();
    }
#endif
}

// Also called in a forked child (its only thread is the forking one, so no
// store is in its handshake): the registration need not carry over.
static void choose_fences(void) {
#if defined(SYS_membarrier) && !defined(CTL_FULL_FENCES)
    int commands = (int)syscall(SYS_membarrier, membarrier_query, 0, 0);
    asymmetric_fences = commands > 0 && (commands & membarrier_private_expedited) &&
                        syscall(SYS_membarrier, membarrier_register_private_expedited, 0, 0) == 0;
#endif
}

// Puts `value` into the calling thread's entry `e` of `slot`, whose tag is
// `expected` (empty, or this thread's initialisation mark), without the
// mutex; false if it was not stored (the value stays the caller's).
//
// The handshake with a destroy of the slot: the destroy writes 0 to the
// liveness word, fences (`destroy_fence`), then reads every block's tag
// (`take_values`); this writes the tag, fences (`store_fence`), then reads
// the liveness word. So at least one side sees the other's write: either the
// destroy's pass finds the value (and takes it), or the re-check here sees
// the slot dying, or both. Then a value both touched is settled by
// compare-and-swap of the tag from the generation to empty, which only one
// side wins: the destroy (the store counts as made before the destroy took
// it: true) or this store (false: the value stays the caller's). Only the
// owner writes an entry that holds no value (empty, or its own
// initialisation mark), so publishing needs no compare-and-swap.
INLINE bool publish(ctl_slot slot, entry_ref e, uint32_t expected, ctl_value value) {
    if (tag_of(e) != expected) return false;
    *e.value = value;  // no other thread reads it before the tag matches
    PUBLISH_POINT(0);
    __atomic_store_n(e.tag, slot.generation, __ATOMIC_RELEASE);
    store_fence();
    PUBLISH_POINT(1);
    if (__builtin_expect(live_now(slot), 1)) return true;
    if (!swap_tag(e, slot.generation, CTL__TAG_EMPTY)) return true;  // the destroy took it
    e.value->u64 = 0;
    return false;
}

// fork() (HowItWorks, "fork()"): the mutex is held across it, so the child
// never sees the store half-changed. In-flight counts are recomputed in the
// child: the forking thread may itself be running an exit-time destructor.
static void fork_prepare(void) { lock(); }
static void fork_parent(void) { unlock(); }
static void fork_child(void) {
    choose_fences();
    ctl__thread_block *self = ctl__tls;
    ctl__thread_block *t = store.threads;
    while (t) {
        ctl__thread_block *next = t->next;
        if (t != self) free_block(t);
        t = next;
    }
    store.threads = NULL;
    store.thread_count = 0;
    store.left_values = 0;
    if (self != EMPTY_BLOCK) {
        self->next = self->prev = NULL;
        store.threads = self;
        store.thread_count = 1;
    }
    // The only exit-time destructor call left is the forking thread's own.
    bool running = self != EMPTY_BLOCK && self->running.generation != 0;
    for (uint32_t i = 0; i < store.slot_count; i++) {
        slot_info *info = &store.slots[i];
        free(info->left);
        info->left = NULL;
        info->left_count = info->left_capacity = 0;
        info->inflight = running && self->running.index == i ? 1 : 0;
        if (info->state == slot_draining && info->inflight == 0) release_number(i);
    }
    // The forking thread took the mutex in fork_prepare; it is the child's
    // only thread, so it releases it (a held mutex is never re-initialised).
    unlock();
}

// Whether the main program contains the store: the first `dl_iterate_phdr`
// entry is the main program (glibc, musl and the BSDs document that order).
// Elsewhere (Darwin) unknown: false.
#if defined(HAVE_DL_ITERATE_PHDR)
static int in_first_object(struct dl_phdr_info *object, size_t size, void *address) {
    (void)size;
    uintptr_t a = (uintptr_t)address;
    for (int i = 0; i < object->dlpi_phnum; i++) {
        const ElfW(Phdr) *segment = &object->dlpi_phdr[i];
        uintptr_t start = object->dlpi_addr + segment->p_vaddr;
        if (segment->p_type == PT_LOAD && a >= start && a - start < segment->p_memsz) return 1;
    }
    return -1;  // stop after the first entry either way
}

static bool in_main_program(void) { return dl_iterate_phdr(in_first_object, (void *)&store) == 1; }
#else
static bool in_main_program(void) { return false; }
#endif

// Pinning (HowItWorks): a reference to the object containing the store that
// is never dropped, so that `thread_exit` stays mapped while any thread may
// still run it. Nothing to pin in the main program, which is never unloaded,
// nor in a static executable.
static void pin_object(void) {
    Dl_info info;
    if (!in_main_program() && dladdr((void *)&store, &info) != 0 && info.dli_fname != NULL)
        (void)dlopen(info.dli_fname, RTLD_LAZY | RTLD_NOLOAD | RTLD_NODELETE);
}

// The process-level set-up, when the object containing the store is loaded:
// every call into the loader the store makes happens in its constructor,
// while the loader runs it (so never later: not in a forked child, whose copy
// of the loader's lock may be held, and not during a `dlclose`). The fork
// handlers are registered before any thread can use the store, so they run
// after those of every library loaded later (prepare handlers run in the
// reverse order of registration).
//
// A first call into the store made before its constructor ran (by another
// object's constructor, earlier in the loader's order) runs `load` itself,
// but does not pin: `dlopen` of an object whose constructors have not run
// yet would run them inside it, and the constructor would wait for the
// `pthread_once` its own thread is in. The constructor pins when it runs,
// which the loader does before the program (or the `dlopen` that loads the
// object) goes on.
static pthread_once_t load_once = PTHREAD_ONCE_INIT;

static void load(void) {
    choose_fences();
    store.exit_key_error = pthread_key_create(&store.exit_key, thread_exit);
    pthread_atfork(fork_prepare, fork_parent, fork_child);
}

// Priority 101, the first one available: before the object's own C++
// constructors and default-priority constructors, which may use the store.
// (Mach-O has no priorities.)
#if defined(__APPLE__)
#define AT_LOAD __attribute__((constructor))
#else
#define AT_LOAD __attribute__((constructor(101)))
#endif

AT_LOAD static void store_load(void) {
    pthread_once(&load_once, load);
    pin_object();
}

// ---------------------------------------------------------------------------
// Public functions

// The liveness page of `index` exists (allocating it); false if memory ran
// out. Lock held.
static bool ensure_liveness(uint32_t index) {
    uint32_t offset, page = liveness_page_of(index, &offset);
    if (atomic_load_explicit(&liveness[page], memory_order_relaxed) != NULL) return true;
    _Atomic uint32_t *words = calloc((size_t)CTL_LANE_COUNT << page, sizeof *words);
    if (words == NULL) return false;
    atomic_store_explicit(&liveness[page], words, memory_order_release);
    return true;
}

CTL_DEFINE int ctl_slot_create(ctl_slot *slot, ctl_destructor destructor, void *context) {
    pthread_once(&load_once, load);
    lock();
    // A failed key creation (out of pthread keys) is tried again, so that a
    // create succeeds once keys are freed.
    if (store.exit_key_error != 0) store.exit_key_error = pthread_key_create(&store.exit_key, thread_exit);
    if (store.exit_key_error != 0) {
        unlock();
        return CTL_EAGAIN;
    }
    uint32_t index;
    if (store.free_count > 0) {
        index = pop_free();
    } else {
        if (!ensure_liveness(store.slot_count)) {
            unlock();
            return CTL_ENOMEM;
        }
        if (store.slot_count == store.slot_capacity) {
            uint32_t capacity = store.slot_capacity ? store.slot_capacity * 2 : 64;
            slot_info *slots = capacity > store.slot_capacity ? realloc(store.slots, capacity * sizeof *slots) : NULL;
            if (slots == NULL) {
                unlock();
                return CTL_ENOMEM;
            }
            store.slots = slots;
            store.slot_capacity = capacity;
        }
        index = store.slot_count++;
        store.slots[index] = (slot_info){.generation = 0};
    }
    slot_info *info = &store.slots[index];
    info->generation++;  // below CTL__MAX_GENERATION: exhausted numbers are never freed
    info->state = slot_live;
    info->inflight = 0;
    info->destructor = destructor;
    info->context = context;
    store.live_slots++;
    *slot = (ctl_slot){.ctl__lane = lane_of(index), .generation = info->generation, .index = index};
    atomic_store_explicit(liveness_word(index), info->generation, memory_order_release);
    unlock();
    return CTL_OK;
}

// Takes up to `capacity` values of `slot` out of the registered blocks into
// `values`, clearing their entries. Lock held.
static size_t take_values(ctl_slot slot, ctl_value *values, size_t capacity) {
    size_t n = 0;
    for (ctl__thread_block *t = store.threads; t && n < capacity; t = t->next) {
        entry_ref e = entry_in(t, slot.index);
        VISIT();
        if (e.tag == NULL) continue;
        // Only a published value, and only by compare-and-swap: the owner
        // may be re-checking right now (`publish`). A tag of another
        // generation belongs to a store racing an earlier destroy of the
        // number, which empties it itself; an initialisation mark is the
        // owner's alone (it reads as empty, and the owner's finish fails or
        // its exit clears it).
        if (tag_of(e) == slot.generation && swap_tag(e, slot.generation, CTL__TAG_EMPTY)) {
            values[n++] = *e.value;
            e.value->u64 = 0;
        }
    }
    return n;
}

// Appends a value that an exiting thread leaves behind to its slot's list.
// Out of memory, the value is dropped (never destroyed). Lock held.
static void leave_value(slot_info *info, ctl_value value) {
    if (info->left_count == info->left_capacity) {
        uint32_t capacity = info->left_capacity ? info->left_capacity * 2 : 4;
        ctl_value *left = capacity > info->left_capacity ? realloc(info->left, capacity * sizeof *left) : NULL;
        if (left == NULL) return;
        info->left = left;
        info->left_capacity = capacity;
    }
    info->left[info->left_count++] = value;
    store.left_values++;
}

static void destroy_values(ctl_destructor destructor, void *context, const ctl_value *values, size_t n) {
    if (destructor)
        for (size_t i = 0; i < n; i++) destructor(values[i], context);
}

// Disables cancellation for a slow path whose destructor calls may reach a
// cancellation point; `end_uncancellable` restores the caller's state (a
// pending request is acted upon at its next cancellation point).
static int begin_uncancellable(void) {
    int state;
    pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &state);
    return state;
}

static void end_uncancellable(int state) { pthread_setcancelstate(state, NULL); }

CTL_DEFINE int ctl_slot_destroy(ctl_slot slot) {
    int cancel_state = begin_uncancellable();
    lock();
    if (!is_live(slot)) {
        unlock();
        end_uncancellable(cancel_state);
        return CTL_EINVAL;
    }
    slot_info *info = &store.slots[slot.index];
    info->state = slot_destroying;
    // From here on, stores without the mutex fail or are taken below (the
    // handshake: see `publish`).
    atomic_store(liveness_word(slot.index), 0);
    // Only registered threads store without the mutex; one that registers
    // later takes the mutex after this write, and so reads it.
    if (store.thread_count > (ctl__tls != EMPTY_BLOCK ? 1u : 0u)) destroy_fence();
    ctl_destructor destructor = info->destructor;
    void *context = info->context;
    // From here on stores fail. Take every value out in one pass (out of
    // memory: in batches) and destroy them with the lock released: a
    // destructor may use the store. An exiting
    // thread takes out the values this pass has not reached yet (the slot is
    // not free), so each value is destroyed exactly once.
    size_t capacity = store.thread_count;
    ctl_value *values = capacity ? malloc(capacity * sizeof *values) : NULL;
    if (values != NULL || capacity == 0) {
        size_t n = take_values(slot, values, capacity);
        unlock();
        destroy_values(destructor, context, values, n);
        free(values);
        lock();
    } else {
        // Out of memory: passes of a fixed batch, each from the list's head.
        for (;;) {
            ctl_value batch[fallback_batch];
            size_t n = take_values(slot, batch, fallback_batch);
            if (n == 0) break;
            unlock();
            destroy_values(destructor, context, batch, n);
            lock();
        }
    }
    // Then the values of exited threads. No block holds a value of the slot
    // any more, and none can gain one, so the list is complete.
    info = &store.slots[slot.index];  // the table may have moved
    ctl_value *left = info->left;
    size_t left_count = info->left_count;
    store.left_values -= left_count;
    info->left = NULL;
    info->left_count = info->left_capacity = 0;
    unlock();
    destroy_values(destructor, context, left, left_count);
    free(left);
    lock();
    // Exiting threads that took a value of this slot out before we did
    // destroy it themselves, and are not waited for: the last of them gives
    // the number back (end_inflight).
    store.live_slots--;
    info = &store.slots[slot.index];  // the table may have moved
    if (info->inflight == 0) release_number(slot.index);
    else info->state = slot_draining;
    unlock();
    end_uncancellable(cancel_state);
    return CTL_OK;
}

CTL_DEFINE bool ctl_slot_is_live(ctl_slot slot) { return live_now(slot); }

// No lock: only the owning thread touches its entries of a live slot
// without the mutex (the invariant stated at `ctl__tls`).
CTL_DEFINE bool ctl_take(ctl_slot slot, ctl_value *value) {
    entry_ref e = entry_in(ctl__tls, slot.index);
    if (e.tag == NULL || __atomic_load_n(e.tag, __ATOMIC_RELAXED) != slot.generation) return false;
    ctl_value taken = take_entry(e);
    if (value) *value = taken;
    return true;
}

// A store into an entry without a value: no lock once the thread is
// registered (`publish` decides a race with a destroy of the slot).
static bool set_any(ctl_slot slot, ctl_value value);

CTL_DEFINE bool ctl__set_slow(ctl_slot slot, ctl_value value) {
    // The common case first, in few registers: a registered thread stores
    // into an empty lane of a live slot (`publish`, written out for a lane).
    ctl__thread_block *t = ctl__tls;
    uint32_t index = slot.index;
    if (__builtin_expect(index < CTL_LANE_COUNT && slot.ctl__lane == index && t != EMPTY_BLOCK, 1)) {
        _Atomic uint32_t *words = atomic_load_explicit(&liveness[0], memory_order_acquire);
        uint32_t *tag = &t->tags[index];
        if (words != NULL && __atomic_load_n(tag, __ATOMIC_RELAXED) == CTL__TAG_EMPTY &&
            atomic_load_explicit(&words[index], memory_order_acquire) == slot.generation && slot.generation != 0) {
            t->values[index] = value;
            PUBLISH_POINT(0);
            __atomic_store_n(tag, slot.generation, __ATOMIC_RELEASE);
            store_fence();
            PUBLISH_POINT(1);
            if (__builtin_expect(atomic_load_explicit(&words[index], memory_order_relaxed) == slot.generation, 1))
                return true;
            if (!swap_tag((entry_ref){tag, &t->values[index]}, slot.generation, CTL__TAG_EMPTY)) return true;
            t->values[index].u64 = 0;
            return false;
        }
    }
    return set_any(slot, value);
}

// `ctl__set_slow` for every other case: registration, chunks, a mark, a
// slot not live.
__attribute__((noinline)) static bool set_any(ctl_slot slot, ctl_value value) {
    if (!live_now(slot)) return false;
    ctl__thread_block *t = own_block();
    entry_ref e = t ? ensure_entry(t, slot.index) : (entry_ref){NULL, NULL};
    if (e.tag == NULL) return false;
    uint32_t tag = tag_of(e);
    // An entry without a value: empty, or marked by this thread. A store
    // replaces the mark, and `ctl_finish_initialization` then fails: the
    // initialiser stored the value itself (this slot's mark), or the mark
    // was left by an initialisation of a destroyed slot of the same number.
    if (tag == CTL__TAG_EMPTY || is_mark(tag)) return publish(slot, e, tag, value);
    if (tag != slot.generation) return false;  // never: a racing store empties its entry before returning
    *e.value = value;
    return true;
}

CTL_DEFINE int ctl_begin_initialization(ctl_slot slot) {
    if (ctl_has_value(slot)) return CTL_EEXIST;
    if (!live_now(slot)) return CTL_EINVAL;
    ctl__thread_block *t = own_block();
    entry_ref e = t ? ensure_entry(t, slot.index) : (entry_ref){NULL, NULL};
    if (e.tag == NULL) return CTL_ENOMEM;
    uint32_t mark = slot.generation | CTL__TAG_INITIALIZING;
    uint32_t tag = tag_of(e);
    if (tag == mark) return CTL_EBUSY;
    // Empty, or a mark this thread left for a destroyed slot of the number.
    if (tag != CTL__TAG_EMPTY && !is_mark(tag)) return CTL_EINVAL;  // never: no value is held here
    // Only this thread writes marks; the re-check (as in `publish`) turns
    // away a slot whose destroy began meanwhile.
    __atomic_store_n(e.tag, mark, __ATOMIC_RELEASE);
    store_fence();
    if (live_now(slot)) return CTL_OK;
    __atomic_store_n(e.tag, CTL__TAG_EMPTY, __ATOMIC_RELAXED);
    return CTL_EINVAL;
}

CTL_DEFINE bool ctl_finish_initialization(ctl_slot slot, ctl_value value) {
    entry_ref e = entry_in(ctl__tls, slot.index);
    return e.tag != NULL && publish(slot, e, slot.generation | CTL__TAG_INITIALIZING, value);
}

CTL_DEFINE void ctl_cancel_initialization(ctl_slot slot) {
    entry_ref e = entry_in(ctl__tls, slot.index);
    if (e.tag && tag_of(e) == (slot.generation | CTL__TAG_INITIALIZING))
        __atomic_store_n(e.tag, CTL__TAG_EMPTY, __ATOMIC_RELAXED);
}

#if defined(CTL_TESTING)
CTL_DEFINE size_t ctl__test_entries_visited(void) {
    lock();
    size_t n = entries_visited;
    unlock();
    return n;
}

CTL_DEFINE size_t ctl__test_mutex_acquisitions(void) {
    pthread_mutex_lock(&store.lock);  // not counted
    size_t n = mutex_acquisitions;
    unlock();
    return n;
}
#endif

CTL_DEFINE ctl_stats ctl_get_stats(void) {
    lock();
    ctl_stats stats = {
        .live_slots = store.live_slots,
        .registered_threads = store.thread_count,
        .slot_table_size = store.slot_count,
        .left_values = store.left_values,
    };
    unlock();
    return stats;
}

// ---------------------------------------------------------------------------
// Thread exit

typedef struct pending {
    ctl_value value;
    ctl_destructor destructor;
    void *context;
    ctl_slot slot;
} pending;

// Takes the first value of `t` at slot number `*cursor` or above, and below
// `end`, out, counted as in flight; false if there is none. Lock held. Walks
// the thread's own storage (its lanes and the chunks it allocated), not the
// slot table.
static bool take_next(ctl__thread_block *t, uint32_t *cursor, uint32_t end, pending *out) {
    for (uint32_t index = *cursor; index < end; index++) {
        if (index >= CTL_LANE_COUNT) {
            uint32_t c = index / CTL_LANE_COUNT;
            while (c < t->chunk_count && t->chunks[c] == NULL) c++;
            if (c >= t->chunk_count) return false;
            if (index < c * CTL_LANE_COUNT) index = c * CTL_LANE_COUNT;
            if (index >= end) return false;  // a chunk of slots newer than the sweep
        }
        entry_ref e = entry_in(t, index);
        VISIT();
        if (*e.tag == CTL__TAG_EMPTY) continue;
        slot_info *info = &store.slots[index];
        bool held = *e.tag == info->generation && info->state != slot_free;
        if (!held) {
            clear_entry(e);  // an initialisation mark that will not finish
            continue;
        }
        info->inflight++;
        *out = (pending){
            .value = take_entry(e),
            .destructor = info->destructor,
            .context = info->context,
            .slot = {.ctl__lane = lane_of(index), .generation = info->generation, .index = index},
        };
        *cursor = index + 1;
        return true;
    }
    return false;
}

// Moves the values that `t` still holds (stored during the last exit sweep)
// to their slots' left values, so that the block can be freed. Lock held.
static void leave_values(ctl__thread_block *t) {
    uint32_t end = t->chunk_count > 1 ? t->chunk_count * CTL_LANE_COUNT : CTL_LANE_COUNT;
    for (uint32_t index = 0; index < end; index++) {
        entry_ref e = entry_in(t, index);
        if (e.tag == NULL) {
            index |= CTL_LANE_COUNT - 1;  // no chunk: on to the next one
            continue;
        }
        VISIT();
        if (*e.tag == CTL__TAG_EMPTY) continue;
        slot_info *info = &store.slots[index];
        if (*e.tag == info->generation && info->state != slot_free) leave_value(info, *e.value);
    }
}

// The store's pthread key destructor: the exit sweeps (HowItWorks, "Thread
// exit"). It does not set the key again to get another round:
// ThreadSanitizer's own key destructor expects to run in the C library's last
// round after every other one, and destructors of this store running then
// would crash it.
static void thread_exit(void *block) {
    ctl__thread_block *t = block;
    if (t != ctl__tls) {
#if defined(__APPLE__)
        // Darwin keeps `ctl__tls` in a buffer that dyld frees in a pthread-key
        // destructor of its own, created before the store's key and so run
        // first: reading it now allocates a fresh buffer holding the initial
        // value. Point it at the block again for the sweeps (dyld frees the
        // fresh buffer in the C library's next round).
        ctl__tls = t;
#else
        return;  // never: the key is only set to the own block
#endif
    }
    int cancel_state = begin_uncancellable();
    lock();
    bool left = true;  // until a sweep finds nothing
    for (int sweep = 0; sweep < CTL_EXIT_SWEEPS; sweep++) {
        bool found = false;
        uint32_t cursor = 0;
        // A sweep goes once, in number order, over the numbers handed out
        // when it began, so it calls each slot's destructor at most once: a
        // destructor that creates a slot on a new number and stores into it
        // leaves that value to the next sweep, and the work of an exit is
        // bounded by CTL_EXIT_SWEEPS calls per slot.
        uint32_t end = store.slot_count;
        pending p;
        while (take_next(t, &cursor, end, &p)) {
            found = true;
            t->running = p.slot;
            unlock();
            if (p.destructor) p.destructor(p.value, p.context);
            lock();
            t->running = no_slot;
            end_inflight(p.slot.index);
        }
        // No destructor ran, so nothing new can have been stored: done,
        // and no value is left.
        if (!found) {
            left = false;
            break;
        }
    }
    ctl__tls = EMPTY_BLOCK;
    // A signal handler from here on sees the empty block, not `t`.
    atomic_signal_fence(memory_order_seq_cst);
    if (left) leave_values(t);
    unlink_block(t);
    if (t->chunks != NULL) {  // freed outside the mutex
        unlock();
        free_chunks(t);
        lock();
    }
    keep_or_free(t);
    unlock();
    end_uncancellable(cancel_state);
}
