//===----------------------------------------------------------------------===//
//
// CThreadLocals: native thread-local slots built on `_Thread_local`.
//
// A *slot* is a process-wide name for one word of storage that every thread
// has its own copy of. Slots are created and destroyed at run time, like
// pthread keys, but without their limits:
//
// - there is no fixed limit on the number of live slots;
// - reads and writes of a slot that the calling thread has already set are a
//   few inline instructions on the thread's own `_Thread_local` block: no
//   lock, no libc call, no key lookup;
// - destroying a slot destroys every thread's value in it (pthread keys leak
//   them), and a thread's values are destroyed when it exits;
// - a destroyed slot's number may be reused, but every slot handle carries a
//   generation, so a new slot never shows a value left by an earlier one.
//
// Every symbol starts with `ctl_`. Symbols that start with `ctl__` are
// implementation details that the inline functions below need; do not use
// them directly.
//
//===----------------------------------------------------------------------===//

#ifndef CTHREADLOCALS_H
#define CTHREADLOCALS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#if !defined(__has_attribute)
#define __has_attribute(x) 0
#endif
#if !defined(__has_feature)
#define __has_feature(x) 0
#endif

#if __has_feature(nullability)
#pragma clang assume_nonnull begin
#define CTL_NULLABLE _Nullable
#else
#define CTL_NULLABLE
#endif

#if defined(__cplusplus)
extern "C" {
#endif

/// Hot accessors are forced inline so that they compile into the caller,
/// whether the caller is C or Swift.
#define CTL_INLINE static inline __attribute__((always_inline))

#if defined(__GNUC__) || defined(__clang__)
#define CTL_LIKELY(x) __builtin_expect(!!(x), 1)
#define CTL_UNLIKELY(x) __builtin_expect(!!(x), 0)
#else
#define CTL_LIKELY(x) (x)
#define CTL_UNLIKELY(x) (x)
#endif

/// The TLS model of the store's `_Thread_local` block.
///
/// `initial-exec` makes every access one `%fs`-relative (x86_64) or
/// `tpidr_el0`-relative (arm64) load or store, with no call to
/// `__tls_get_addr`, also when this code lives in a shared library. The
/// trade-off: initial-exec TLS comes from the static TLS area, so a shared
/// library that contains this store and is loaded late with `dlopen` can fail
/// to load ("cannot allocate memory in static TLS block") when that area is
/// exhausted. Executables, and libraries linked at start-up, are unaffected.
#if __has_attribute(tls_model) && !defined(CTL_TLS_MODEL_DEFAULT)
#define CTL_TLS_MODEL __attribute__((tls_model("initial-exec")))
#else
#define CTL_TLS_MODEL
#endif

/// One word of a slot, read and written through the typed accessors.
typedef union ctl_value {
    void *CTL_NULLABLE ptr;
    uintptr_t uword;
    uint64_t u64;
    int64_t i64;
    double f64;
} ctl_value;

/// A handle to a slot: its number, the generation of that number, and its
/// lane in the per-thread inline table.
///
/// Handles are plain values; copy them freely. A handle whose slot was
/// destroyed stays invalid forever, even after its number is reused. A
/// zero-initialized handle names no slot (no entry's tag is ever 0, so its
/// generation 0 matches nothing): it reads as empty, and stores, `ctl_take`
/// and `ctl_slot_destroy` refuse it.
typedef struct ctl_slot {
    /// Where the slot's entry lives in the thread's inline table: `index` for
    /// the first `CTL_INLINE_SLOTS` slots, `CTL_INLINE_SLOTS` for all others
    /// (an entry that never holds a value, so that the inline check fails and
    /// the chunk lookup takes over, with no bounds check).
    uint32_t lane;
    /// The generation of `index`: 1 ... 0x7ffffffe.
    uint32_t generation;
    /// The slot number.
    uint32_t index;
} ctl_slot;

/// Destroys one thread's value of a slot.
///
/// Called with the value and the context given to `ctl_slot_create`: on the
/// exiting thread when a thread exits, and on the destroying thread (for every
/// thread's value) when the slot is destroyed. Called once per stored value.
/// A destructor may read and write slots, this one included; see
/// `ctl_slot_create` for what happens to values it stores.
typedef void (*ctl_destructor)(ctl_value value, void *CTL_NULLABLE context);

/// Error codes returned by the slot functions.
enum {
    /// Success.
    CTL_OK = 0,
    /// The slot handle does not name a live slot (never created, or destroyed).
    CTL_EINVAL = 22,
    /// Memory for the slot table could not be allocated.
    CTL_ENOMEM = 12,
    /// The store's one pthread key (used to learn of thread exits) could not
    /// be created.
    CTL_EAGAIN = 11,
};

/// Creates a slot.
///
/// - Parameters:
///   - slot: Receives the new slot's handle.
///   - destructor: Called for each value the slot still holds when its thread
///     exits or when the slot is destroyed; `NULL` for none (values are then
///     simply dropped, as for scalars).
///   - context: Passed to `destructor` unchanged.
/// - Returns: `CTL_OK`, `CTL_ENOMEM`, or `CTL_EAGAIN` (the process is out of
///   pthread keys; the store needs one in all, on first use).
///
/// A new slot has no value on any thread. Cost: one mutex acquisition and, now
/// and then, growth of the process-wide slot table.
///
/// Values stored while a thread exits: a thread's values are destroyed in up to
/// `CTL_DESTRUCTOR_ROUNDS` rounds. A destructor that stores a value in any slot
/// during a round has it destroyed in the next round. In the last round the
/// thread's storage is closed first, so stores made then fail
/// (`ctl_set_*` returns false and the caller keeps ownership): teardown always
/// ends, and nothing is leaked by the store.
int ctl_slot_create(ctl_slot *slot, ctl_destructor CTL_NULLABLE destructor, void *CTL_NULLABLE context);

/// Destroys a slot and every live thread's value in it.
///
/// The destructor runs on the calling thread for each value held by a thread
/// that is still running; values of threads that are exiting at the same time
/// are destroyed by those threads. When `ctl_slot_destroy` returns, no thread
/// holds a value in the slot any more and no destructor call for it is still
/// in progress on another thread.
///
/// - Returns: `CTL_OK`, or `CTL_EINVAL` if `slot` is not live (destroyed
///   already, or never created); nothing is changed then.
///
/// The slot must not be used concurrently with or after its destruction; a use
/// afterwards reads as empty and stores fail (see the accessors).
int ctl_slot_destroy(ctl_slot slot);

/// Whether `slot` names a live slot. Takes the store's mutex.
bool ctl_slot_is_live(ctl_slot slot);

/// The number of rounds in which an exiting thread destroys its values.
#define CTL_DESTRUCTOR_ROUNDS 4

/// The number of slots whose per-thread entries live in the thread's own
/// `_Thread_local` block: the fast path. The block is 840 bytes per thread on
/// 64-bit platforms. Slots beyond it live in per-thread chunks on the heap,
/// reached by an inline chunk lookup. Destroyed slot numbers are reused
/// lowest-first, so a program with fewer than this many live slots uses only
/// the fast path.
#define CTL_INLINE_SLOTS 64

/// Tags of per-thread entries. Implementation detail.
///
/// A tag is `CTL__TAG_EMPTY` when the thread has no value, the slot's
/// generation when it has one, and the generation with `CTL__TAG_INITIALIZING`
/// set while a lazy initialiser runs (see `ctl_begin_initialization`).
/// `CTL__TAG_EMPTY` equals no generation a handle can carry, not even the 0 of
/// a zero-initialized handle, so the inline check refuses such a handle with
/// no extra test.
#define CTL__TAG_INITIALIZING 0x80000000u
#define CTL__TAG_EMPTY 0xffffffffu

/// An entry of a heap chunk (slots at and above `CTL_INLINE_SLOTS`).
typedef struct ctl__entry {
    ctl_value value;
    uint32_t tag;
    uint32_t reserved;
} ctl__entry;

/// A thread's block of the store. Implementation detail: reach it only through
/// the accessors below.
///
/// Tags and values of the inline slots are kept in two arrays so that both are
/// reached with one scaled-index instruction each.
typedef struct ctl__thread_block {
    /// `tags[CTL_INLINE_SLOTS]` is the lane of every slot beyond the inline
    /// ones; it stays `CTL__TAG_EMPTY` forever.
    uint32_t tags[CTL_INLINE_SLOTS + 1];
    ctl_value values[CTL_INLINE_SLOTS + 1];
    /// Heap chunks of `CTL_INLINE_SLOTS` entries for slots at and above
    /// `CTL_INLINE_SLOTS`; `chunks[0]` is unused. Chunks never move, so a
    /// pointer to a value stays valid while the thread runs.
    ctl__entry *CTL_NULLABLE *CTL_NULLABLE chunks;
    uint32_t chunk_count;
    /// Registration state (see `CThreadLocals.c`).
    uint32_t state;
    /// The slot whose destructor this thread is running while it exits.
    ctl_slot running;
    /// Values handed out after the thread's storage closed, destroyed at the
    /// end of the thread's teardown (see `ctl__keep_until_exit`).
    struct ctl__kept *CTL_NULLABLE kept;
    /// Links in the list of registered threads (protected by the store's mutex).
    struct ctl__thread_block *CTL_NULLABLE next;
    struct ctl__thread_block *CTL_NULLABLE prev;
} ctl__thread_block;

/// The calling thread's block. Defined once, in `CThreadLocals.c`.
///
/// Invariant the inline accessors rely on: only the owning thread reads or
/// writes an entry of a live slot without holding the store's mutex. Another
/// thread touches this block only under the mutex, and only entries of a slot
/// that it is destroying (which the owner no longer uses) or the list links.
extern _Thread_local ctl__thread_block ctl__tls CTL_TLS_MODEL;

/// Out-of-line store used when the thread has no value in the slot yet.
bool ctl__set_slow(ctl_slot slot, ctl_value value);

/// A pointer to the calling thread's value in `slot`, or NULL if it has none.
///
/// Read and write the value in place through it. It stays valid until the
/// value is removed from the slot (`ctl_take`, destruction of the slot, or the
/// thread's exit); storage never moves while the thread runs.
///
/// Cost for the first `CTL_INLINE_SLOTS` live slots: two loads, a compare and a
/// branch on the thread's own block, inline.
CTL_INLINE ctl_value *CTL_NULLABLE ctl_value_pointer(ctl_slot slot) {
    if (CTL_LIKELY(ctl__tls.tags[slot.lane] == slot.generation))
        return &ctl__tls.values[slot.lane];
    if (slot.lane != CTL_INLINE_SLOTS) return NULL;
    // A slot beyond the inline lanes: its entry is in a heap chunk. Inline
    // too, so that the caller keeps its registers (no call).
    uint32_t chunk_index = slot.index / CTL_INLINE_SLOTS;
    if (chunk_index >= ctl__tls.chunk_count) return NULL;
    ctl__entry *CTL_NULLABLE chunk = ctl__tls.chunks[chunk_index];
    if (chunk == NULL) return NULL;
    ctl__entry *entry = &chunk[slot.index % CTL_INLINE_SLOTS];
    return entry->tag == slot.generation ? &entry->value : NULL;
}

/// Whether the calling thread holds a value in `slot`.
CTL_INLINE bool ctl_has_value(ctl_slot slot) { return ctl_value_pointer(slot) != NULL; }

/// The calling thread's value in `slot`, or `fallback` if it has none.
CTL_INLINE ctl_value ctl_get(ctl_slot slot, ctl_value fallback) {
    ctl_value *value = ctl_value_pointer(slot);
    return value ? *value : fallback;
}

/// Stores `value` as the calling thread's value in `slot`.
///
/// Returns true if it was stored. It is not stored, and false is returned
/// (ownership of `value` stays with the caller), when `slot` is not live or
/// the calling thread has finished destroying its values (see
/// `ctl_slot_create`). A previous value is overwritten, not destroyed (read it
/// first, or remove it with `ctl_take`, to destroy it yourself).
///
/// Cost: a few inline instructions when the thread already holds a value in
/// the slot; the first store of a thread in a slot takes the store's mutex.
CTL_INLINE bool ctl_set(ctl_slot slot, ctl_value value) {
    ctl_value *current = ctl_value_pointer(slot);
    if (CTL_LIKELY(current != NULL)) {
        *current = value;
        return true;
    }
    return ctl__set_slow(slot, value);
}

/// Removes the calling thread's value from `slot` without destroying it.
///
/// Returns true and writes the value to `*value` (if not NULL) if the thread
/// held one; returns false if it held none.
bool ctl_take(ctl_slot slot, ctl_value *CTL_NULLABLE value);

/// Typed accessors: the value as a pointer or scalar, NULL or 0 if the thread
/// holds none. Setters return what `ctl_set` returns.
CTL_INLINE void *CTL_NULLABLE ctl_get_ptr(ctl_slot slot) {
    ctl_value *value = ctl_value_pointer(slot);
    return value ? value->ptr : NULL;
}
CTL_INLINE uintptr_t ctl_get_uword(ctl_slot slot) {
    ctl_value *value = ctl_value_pointer(slot);
    return value ? value->uword : 0;
}
CTL_INLINE uint64_t ctl_get_u64(ctl_slot slot) {
    ctl_value *value = ctl_value_pointer(slot);
    return value ? value->u64 : 0;
}
CTL_INLINE int64_t ctl_get_i64(ctl_slot slot) {
    ctl_value *value = ctl_value_pointer(slot);
    return value ? value->i64 : 0;
}
CTL_INLINE double ctl_get_double(ctl_slot slot) {
    ctl_value *value = ctl_value_pointer(slot);
    return value ? value->f64 : 0.0;
}
CTL_INLINE bool ctl_set_ptr(ctl_slot slot, void *CTL_NULLABLE value) {
    ctl_value v;
    v.u64 = 0;
    v.ptr = value;
    return ctl_set(slot, v);
}
CTL_INLINE bool ctl_set_uword(ctl_slot slot, uintptr_t value) {
    ctl_value v;
    v.u64 = 0;
    v.uword = value;
    return ctl_set(slot, v);
}
CTL_INLINE bool ctl_set_u64(ctl_slot slot, uint64_t value) {
    ctl_value v;
    v.u64 = value;
    return ctl_set(slot, v);
}
CTL_INLINE bool ctl_set_i64(ctl_slot slot, int64_t value) {
    ctl_value v;
    v.i64 = value;
    return ctl_set(slot, v);
}
CTL_INLINE bool ctl_set_double(ctl_slot slot, double value) {
    ctl_value v;
    v.f64 = value;
    return ctl_set(slot, v);
}

/// Marks the calling thread's entry in `slot` as being initialised.
///
/// For lazy initialisation: call it when `ctl_has_value` is false, compute the
/// value, then store it with `ctl_finish_initialization` (no lock) or
/// `ctl_set`, or call `ctl_cancel_initialization`. While the mark is set, the
/// slot reads as empty.
///
/// Returns `CTL_OK`; `CTL_EBUSY` if this thread is already initialising the
/// slot (the initialiser reached its own slot again: a recursion that would
/// never end); `CTL_EINVAL` if the slot is not live or this thread's storage
/// is closed (it finished destroying its values); `CTL_EEXIST` if the thread
/// already holds a value.
int ctl_begin_initialization(ctl_slot slot);

/// Removes the mark set by `ctl_begin_initialization`, storing nothing.
void ctl_cancel_initialization(ctl_slot slot);

/// Ends the initialisation begun by `ctl_begin_initialization`: stores `value`
/// as the calling thread's value, without taking the store's mutex (the entry
/// and the thread's registration were made when the mark was set).
///
/// Returns false, storing nothing (ownership of `value` stays with the
/// caller), if the mark is no longer set: the initialiser stored a value in
/// the slot itself (that value stays), or cancelled.
bool ctl_finish_initialization(ctl_slot slot, ctl_value value);

enum {
    /// `ctl_begin_initialization`: the thread is already initialising the slot.
    CTL_EBUSY = 16,
    /// `ctl_begin_initialization`: the thread already holds a value.
    CTL_EEXIST = 17,
};

/// Keeps `value` in a fresh word owned by the calling thread until the end of
/// its teardown, then passes it to `destructor` (if not NULL). For values
/// handed out by a language overlay after the thread's storage closed (they
/// cannot be stored in a slot any more). Returns NULL if memory ran out.
///
/// The kept values are destroyed after the last round, in passes: values kept
/// by their destructors are destroyed in the next pass. If values are still
/// being kept after `CTL_KEEP_PASSES` passes, deinitializers are re-creating
/// values without end; the process is stopped with a message on stderr.
ctl_value *CTL_NULLABLE ctl__keep_until_exit(ctl_value value, ctl_destructor CTL_NULLABLE destructor);

#define CTL_KEEP_PASSES 64

/// Statistics of the store, for tests and diagnostics. Takes the mutex.
typedef struct ctl_stats {
    /// Slots created and not yet destroyed.
    size_t live_slots;
    /// Threads that have stored a value and not yet finished exiting.
    size_t registered_threads;
    /// Size of the slot table (the highest slot number ever used, plus one).
    size_t slot_table_size;
} ctl_stats;
ctl_stats ctl_get_stats(void);

#if defined(__cplusplus)
}
#endif

#if __has_feature(nullability)
#pragma clang assume_nonnull end
#endif

#endif  // CTHREADLOCALS_H
