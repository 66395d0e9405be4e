// SPDX-License-Identifier: Apache-2.0
//===----------------------------------------------------------------------===//
//
// CThreadLocals: the inline machinery behind the accessors of
// `CThreadLocals.h`, which includes this file at its end. Everything here is
// an implementation detail (`ctl__`, `CTL__`); the terms are those of the DocC
// article "How it works".
//
//===----------------------------------------------------------------------===//

#ifndef CTHREADLOCALS_DETAIL_H
#define CTHREADLOCALS_DETAIL_H

#if !defined(CTHREADLOCALS_H)
#error "include <CThreadLocals.h>, not CThreadLocals/detail.h"
#endif

#if defined(__clang__)
#pragma clang assume_nonnull begin
#endif

#if defined(__cplusplus)
extern "C" {
#endif

/// The TLS model of `ctl__tls` (see "Building" in `CThreadLocals.h`).
#if __has_attribute(tls_model) && !defined(CTL_TLS_MODEL_DEFAULT) && !defined(__APPLE__)
#define CTL__TLS_MODEL __attribute__((tls_model("initial-exec")))
#else
#define CTL__TLS_MODEL
#endif

/// The thread-local storage class: `_Thread_local` in C11, `__thread` in C++,
/// which has no dynamic initialisation and so no wrapper call.
#if defined(__cplusplus)
#define CTL__THREAD_LOCAL __thread
#else
#define CTL__THREAD_LOCAL _Thread_local
#endif

/// Tags of per-thread entries: `CTL__TAG_EMPTY` (no value), the slot's
/// generation (a value), or the generation with the initializing flag set
/// (`ctl_begin_initialization`). The empty tag equals no generation a handle
/// can carry, not even the 0 of a zero-initialized handle, so the fast path
/// refuses such a handle with no extra test.
#define CTL__TAG_INITIALIZING 0x80000000u
#define CTL__TAG_EMPTY 0xffffffffu

/// An entry of a chunk (slot numbers at and above `CTL_LANE_COUNT`).
typedef struct ctl__entry {
    ctl_value value;
    uint32_t tag;
    uint32_t reserved;
} ctl__entry;

/// A thread's block, on the heap.
typedef struct ctl__thread_block {
    /// The lanes: values first, then tags, each reached with one scaled-index
    /// instruction (a value's address is the block plus a scaled index).
    /// Lane `CTL_LANE_COUNT` is the chunk lane: its tag stays
    /// `CTL__TAG_EMPTY` forever.
    ctl_value values[CTL_LANE_COUNT + 1];
    uint32_t tags[CTL_LANE_COUNT + 1];
    /// The chunk directory; `chunks[0]` links the directory this one
    /// replaced (lookups never read it). Chunks never move, so a pointer to a
    /// value stays valid while the thread holds it. The directory is replaced
    /// (never reallocated in place) when it grows, the new pointer stored
    /// before the new count, and a replaced one is freed only with the block,
    /// so that neither a signal handler nor a destroying thread reading it
    /// ever sees freed memory.
    ctl__entry *CTL_NULLABLE *CTL_NULLABLE chunks;
    uint32_t chunk_count;
    /// The slot whose destructor this thread is running at its exit (its
    /// in-flight call), or a zero handle.
    ctl_slot running;
    /// Links in the list of registered blocks (protected by the store's mutex).
    struct ctl__thread_block *CTL_NULLABLE next;
    struct ctl__thread_block *CTL_NULLABLE prev;
} ctl__thread_block;

/// The calling thread's block: the empty block until the thread's first
/// store, then the thread's own. Defined once, in `CThreadLocals.c`.
///
/// Invariant the inline accessors rely on: only the owning thread reads or
/// writes an entry of a live slot. Another thread touches a block only under
/// the store's mutex, and only the list links or entries of a slot that it is
/// destroying (which the owner no longer uses, except for a store racing the
/// destroy, which both sides settle by compare-and-swap on the entry's tag).
/// Another thread changes a tag only from a generation the owner published
/// (by compare-and-swap, to empty); initialisation marks only the owner
/// writes, so the owner's plain reads of its tags here race with no write.
extern CTL__THREAD_LOCAL ctl__thread_block *ctl__tls CTL__TLS_MODEL;

/// `ctl_set`'s slow path: the thread has no value in the slot yet.
bool ctl__set_slow(ctl_slot slot, ctl_value value);

CTL__ALWAYS_INLINE ctl_value *CTL_NULLABLE ctl_value_pointer(ctl_slot slot) {
    ctl__thread_block *block = ctl__tls;
    if (__builtin_expect(block->tags[slot.ctl__lane] == slot.generation, 1)) return &block->values[slot.ctl__lane];
    if (slot.ctl__lane != CTL_LANE_COUNT) return NULL;
    // A slot beyond the lanes: its entry is in a chunk. Inline too, so that
    // the caller keeps its registers (no call).
    uint32_t chunk_index = slot.index / CTL_LANE_COUNT;
    if (chunk_index >= block->chunk_count) return NULL;
    ctl__entry *CTL_NULLABLE chunk = block->chunks[chunk_index];
    if (chunk == NULL) return NULL;
    ctl__entry *entry = &chunk[slot.index % CTL_LANE_COUNT];
    return entry->tag == slot.generation ? &entry->value : NULL;
}

CTL__ALWAYS_INLINE bool ctl_has_value(ctl_slot slot) { return ctl_value_pointer(slot) != NULL; }

CTL__ALWAYS_INLINE ctl_value ctl_get(ctl_slot slot, ctl_value fallback) {
    ctl_value *value = ctl_value_pointer(slot);
    return value ? *value : fallback;
}

CTL__ALWAYS_INLINE bool ctl_set(ctl_slot slot, ctl_value value) {
    ctl_value *current = ctl_value_pointer(slot);
    if (__builtin_expect(current != NULL, 1)) {
        *current = value;
        return true;
    }
    return ctl__set_slow(slot, value);
}

/// The bytes are copied with `memcpy`: no union type punning, which C++
/// leaves undefined.
#define CTL__TYPED_ACCESSORS(member, type, zero)                          \
    CTL__ALWAYS_INLINE type ctl_get_##member(ctl_slot slot) {             \
        ctl_value *value = ctl_value_pointer(slot);                       \
        type result = zero;                                               \
        if (value) __builtin_memcpy(&result, value, sizeof result);       \
        return result;                                                    \
    }                                                                     \
    CTL__ALWAYS_INLINE bool ctl_set_##member(ctl_slot slot, type value) { \
        ctl_value v;                                                      \
        __builtin_memset(&v, 0, sizeof v);                                \
        __builtin_memcpy(&v, &value, sizeof value);                       \
        return ctl_set(slot, v);                                          \
    }
CTL__TYPED_ACCESSORS(ptr, void *CTL_NULLABLE, NULL)
CTL__TYPED_ACCESSORS(uword, uintptr_t, 0)
CTL__TYPED_ACCESSORS(u64, uint64_t, 0)
CTL__TYPED_ACCESSORS(i64, int64_t, 0)
CTL__TYPED_ACCESSORS(f64, double, 0.0)
#undef CTL__TYPED_ACCESSORS

#if defined(__cplusplus)
}
#endif

#if defined(__clang__)
#pragma clang assume_nonnull end
#endif

#endif  // CTHREADLOCALS_DETAIL_H
