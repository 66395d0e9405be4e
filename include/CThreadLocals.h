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
//   few inline instructions: a load of the thread's block pointer (the
//   store's one `_Thread_local` variable), a tag check and the access; no
//   lock, no libc call, no key lookup;
// - destroying a slot destroys every thread's value in it (pthread keys leak
//   them), and a thread's values are destroyed when it exits;
// - a destroyed slot's number may be reused, but every slot handle carries a
//   generation, so a new slot never shows a value left by an earlier one.
//
// A shared library that contains the store can be loaded with `dlopen`, in
// many copies. Once its store is first used (its first `ctl_slot_create`),
// `dlclose` leaves that library loaded for the rest of the process: threads
// that stored a value run the store's code when they exit.
//
// Every symbol starts with `ctl_`. Symbols that start with `ctl__` are
// implementation details that the inline functions below need; do not use
// them directly. Supported compilers: GCC and Clang, as C11 or later and as
// C++ (C++ uses `__thread`). The design is described in the DocC article
// "How it works" (Sources/ThreadLocals/ThreadLocals.docc/HowItWorks.md).
//
//===----------------------------------------------------------------------===//

#ifndef CTHREADLOCALS_H
#define CTHREADLOCALS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>


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

/// The TLS model of the store's one `_Thread_local` pointer.
///
/// `initial-exec` makes every access a `%fs`-relative (x86_64) or
/// `tpidr_el0`-relative (arm64) load, with no call to `__tls_get_addr`, also
/// when this code lives in a shared library. Initial-exec TLS comes from the
/// static TLS area, which has little room for libraries loaded late with
/// `dlopen`; the store's footprint there is one pointer (8 bytes), so many
/// copies of a library containing it can be loaded. Define
/// `CTL_TLS_MODEL_DEFAULT` to use the compiler's default model instead (for a
/// libc that refuses initial-exec TLS in `dlopen`ed libraries).
/// Darwin ignores the attribute: every `_Thread_local` access there goes
/// through the thread-local variable descriptor's accessor function.
#if __has_attribute(tls_model) && !defined(CTL_TLS_MODEL_DEFAULT) && !defined(__APPLE__)
#define CTL_TLS_MODEL __attribute__((tls_model("initial-exec")))
#else
#define CTL_TLS_MODEL
#endif

/// The thread-local storage class: `_Thread_local` in C11, `__thread` in C++
/// (GCC and Clang), which has no dynamic initialisation and so no wrapper call.
#if defined(__cplusplus)
#define CTL__THREAD_LOCAL __thread
#else
#define CTL__THREAD_LOCAL _Thread_local
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
/// destroyed never names a live slot again, even after its number is reused
/// (see ``ctl_slot_create``). A zero-initialized handle names no slot (no
/// entry's tag is ever 0, so its generation 0 matches nothing): it reads as
/// empty, and stores, `ctl_take` and `ctl_slot_destroy` refuse it.
typedef struct ctl_slot {
    /// Where the slot's entry lives in the thread's inline table: `index` for
    /// the first `CTL_INLINE_SLOTS` slots, `CTL_INLINE_SLOTS` for all others
    /// (an entry that never holds a value, so that the inline check fails and
    /// the chunk lookup takes over). Derivable from `index`, but kept so that
    /// the fast path needs no bounds check.
    uint32_t lane;
    /// The generation of `index`: 1 ... 0x3ffffffe.
    uint32_t generation;
    /// The slot number.
    uint32_t index;
} ctl_slot;

/// Destroys one thread's value of a slot.
///
/// Called with the value and the context given to `ctl_slot_create`: on the
/// exiting thread when a thread exits, and on the destroying thread (for every
/// thread's value) when the slot is destroyed. Called exactly once per stored
/// value that is not removed with `ctl_take` or overwritten (for a value
/// stored late in its thread's exit, only when the slot is destroyed: see
/// `ctl_slot_create`). A destructor may use the store: read and write slots
/// (this one included), create slots, and destroy slots (this one included).
///
/// Cancellation: the store disables thread cancellation around its calls of
/// destructors (a thread's exit sweep and `ctl_slot_destroy`) and restores the
/// caller's state afterwards. A cancellation point inside a destructor (a
/// `write`, a `usleep`) therefore does not act; a request made meanwhile is
/// acted upon at the thread's next cancellation point after the store returns.
/// A destructor must return: leaving it by `pthread_exit`, `longjmp` or an
/// exception leaves the store inconsistent.
typedef void (*ctl_destructor)(ctl_value value, void *CTL_NULLABLE context);

/// Error codes returned by the slot functions.
enum {
    /// Success.
    CTL_OK = 0,
    /// The slot handle does not name a live slot (never created, or destroyed).
    CTL_EINVAL = 22,
    /// Memory for the store's tables could not be allocated.
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
/// A new slot has no value on any thread. Takes the store's mutex. Destroyed
/// slot numbers are reused lowest first; each reuse moves the number's
/// generation on, and a number whose generation is exhausted is never reused.
///
/// Values stored while a thread exits: the store learns of a thread's exit
/// through its one pthread key. Its destructor destroys the thread's values
/// one at a time, in sweeps: a value that a destructor stores is destroyed in
/// a later sweep, until a sweep runs no destructor (as C++ `thread_local` and
/// Rust run destructors registered during teardown). So a finite chain of
/// destructors that each store a value is destroyed at exit, whatever its
/// length up to `CTL_EXIT_SWEEPS` links. Only a destructor that stores anew
/// every time is cut off, after `CTL_EXIT_SWEEPS` sweeps: the value stored
/// during the last sweep stays, and is destroyed when its slot is destroyed
/// (otherwise never, as pthread keys leak values set by their last destructor
/// round). The exited thread keeps no storage: such a value is kept with its
/// slot, one word each (if memory for it runs out, the value is dropped
/// without a destructor call). A value stored later in the thread's teardown,
/// by another library's pthread-key destructor, sets the key again, so that
/// the C library's next round destroys it; in its last round that is too
/// late, and such a value, too, is destroyed only with its slot.
int ctl_slot_create(ctl_slot *slot, ctl_destructor CTL_NULLABLE destructor, void *CTL_NULLABLE context);

/// Destroys a slot and every thread's value in it.
///
/// Every value held by a running thread is taken out in one pass and
/// destroyed on the calling thread before `ctl_slot_destroy` returns, and so
/// is every value that exited threads left (see `ctl_slot_create`). A value
/// that an exiting thread has already taken out for its destructor call is
/// destroyed by that thread, possibly after `ctl_slot_destroy` returns: like
/// `pthread_key_delete`, it never waits for another thread, so it cannot
/// deadlock on a lock that its caller holds and such a destructor needs, nor
/// on another copy of the store. Joining the exiting thread waits for its
/// call. Each value is destroyed exactly once either way, and the slot number
/// is reused only after the last such call has ended.
///
/// So `destructor` and `context` must stay valid after `ctl_slot_destroy`
/// while threads that held a value in the slot may still be exiting: free
/// the context after joining them, or use one that lives as long as the
/// program.
///
/// - Returns: `CTL_OK`, or `CTL_EINVAL` if `slot` is not live (destroyed
///   already, or never created); nothing is changed then.
///
/// The slot must not be used concurrently with or after its destruction; a use
/// afterwards reads as empty and stores fail (see the accessors).
int ctl_slot_destroy(ctl_slot slot);

/// The most sweeps over its values that an exiting thread makes (see
/// `ctl_slot_create`); it stops earlier, after a sweep that runs no destructor.
#define CTL_EXIT_SWEEPS 1024

/// Whether `slot` names a live slot. Takes the store's mutex.
bool ctl_slot_is_live(ctl_slot slot);

/// The number of slots whose per-thread entries live in the thread's block
/// itself: the fast path. Slots beyond it live in per-thread chunks of the
/// same size, reached by an inline chunk lookup. Destroyed slot numbers are
/// reused lowest first, so a program with fewer than this many live slots
/// uses only the fast path.
#define CTL_INLINE_SLOTS 64

/// Tags of per-thread entries. Implementation detail.
///
/// A tag is `CTL__TAG_EMPTY` when the thread has no value, the slot's
/// generation when it has one, the generation with `CTL__TAG_INITIALIZING`
/// set while a lazy initialiser runs (see `ctl_begin_initialization`), and the
/// generation with `CTL__TAG_RESERVED` set after the thread took its value out
/// (see `ctl_take`). `CTL__TAG_EMPTY` equals no generation a handle can carry,
/// not even the 0 of a zero-initialized handle, so the inline check refuses
/// such a handle with no extra test.
#define CTL__TAG_INITIALIZING 0x80000000u
#define CTL__TAG_RESERVED 0x40000000u
#define CTL__TAG_EMPTY 0xffffffffu

/// An entry of a heap chunk (slots at and above `CTL_INLINE_SLOTS`).
typedef struct ctl__entry {
    ctl_value value;
    uint32_t tag;
    uint32_t reserved;
} ctl__entry;

/// A thread's block of the store, on the heap. Implementation detail: reach it
/// only through the accessors below.
///
/// Tags and values of the inline slots are kept in two arrays so that both are
/// reached with one scaled-index instruction each.
typedef struct ctl__thread_block {
    /// Values first: a value's address is then the block plus a scaled
    /// index, one instruction fewer on the fast path than with an offset.
    ctl_value values[CTL_INLINE_SLOTS + 1];
    /// `tags[CTL_INLINE_SLOTS]` is the lane of every slot beyond the inline
    /// ones; it stays `CTL__TAG_EMPTY` forever.
    uint32_t tags[CTL_INLINE_SLOTS + 1];
    /// Heap chunks of `CTL_INLINE_SLOTS` entries for slots at and above
    /// `CTL_INLINE_SLOTS`; `chunks[0]` is unused. Chunks never move, so a
    /// pointer to a value stays valid while the thread holds it. The
    /// directory is replaced (never reallocated in place) when it grows, the
    /// new pointer stored before the new count, so that a signal handler
    /// reading it never sees freed memory.
    ctl__entry *CTL_NULLABLE *CTL_NULLABLE chunks;
    uint32_t chunk_count;
    /// The slot whose destructor this thread is running at its exit (its
    /// in-flight call), or a zero handle.
    ctl_slot running;
    /// Links in the list of registered blocks (protected by the store's mutex).
    struct ctl__thread_block *CTL_NULLABLE next;
    struct ctl__thread_block *CTL_NULLABLE prev;
} ctl__thread_block;

/// The calling thread's block: a shared, never-written block with every tag
/// empty until the thread's first store, then the thread's own heap block.
/// Defined once, in `CThreadLocals.c`; the thread's whole footprint in static
/// TLS is this one pointer.
///
/// Invariant the inline accessors rely on: only the owning thread reads or
/// writes an entry of a live slot without holding the store's mutex. Another
/// thread touches a block only under the mutex, and only entries of a slot
/// that it is destroying (which the owner no longer uses) or the list links.
extern CTL__THREAD_LOCAL ctl__thread_block *ctl__tls CTL_TLS_MODEL;

/// Out-of-line store used when the thread has no value in the slot yet.
bool ctl__set_slow(ctl_slot slot, ctl_value value);

/// A pointer to the calling thread's value in `slot`, or NULL if it has none.
///
/// Read and write the value in place through it. It stays valid until the
/// value is removed from the slot (`ctl_take`, destruction of the slot, or the
/// thread's exit); storage never moves while the thread runs.
///
/// Async-signal-safe: a signal handler may read and write a value that its
/// thread already holds, through this pointer and the accessors below. Every
/// other function of the store takes its mutex and is not async-signal-safe.
/// The handler may interrupt its thread anywhere, in the store too: a value the
/// thread is storing (`ctl_set`, `ctl_finish_initialization`) is there for the
/// handler completely or not at all, and a handler's write is never lost to a
/// `ctl_take` or thread exit it interrupts (the taken value includes it, or the
/// handler finds no value).
CTL_INLINE ctl_value *CTL_NULLABLE ctl_value_pointer(ctl_slot slot) {
    ctl__thread_block *block = ctl__tls;
    if (CTL_LIKELY(block->tags[slot.lane] == slot.generation)) return &block->values[slot.lane];
    if (slot.lane != CTL_INLINE_SLOTS) return NULL;
    // A slot beyond the inline lanes: its entry is in a heap chunk. Inline
    // too, so that the caller keeps its registers (no call).
    uint32_t chunk_index = slot.index / CTL_INLINE_SLOTS;
    if (chunk_index >= block->chunk_count) return NULL;
    ctl__entry *CTL_NULLABLE chunk = block->chunks[chunk_index];
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
/// memory for the thread's block ran out. A previous value is overwritten, not destroyed (read it
/// first, or remove it with `ctl_take`, to destroy it yourself).
///
/// Cost: a few inline instructions when the thread already holds a value in
/// the slot; the first store of a thread in a slot takes the store's mutex; a
/// store after `ctl_take` takes no lock (a call, a tag check and the store).
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
/// held one; returns false if it held none. The slot then reads as empty, but
/// its entry stays the thread's: the thread's next store in the slot takes no
/// lock.
bool ctl_take(ctl_slot slot, ctl_value *CTL_NULLABLE value);

/// Typed accessors: the value as a pointer or scalar, NULL or 0 if the thread
/// holds none. Setters return what `ctl_set` returns. A value is read back as
/// the type it was stored as; the bytes are copied with `memcpy` (no union
/// type punning, which C++ leaves undefined).
#define CTL__TYPED_ACCESSORS(name, type, zero)                                 \
    CTL_INLINE type ctl_get_##name(ctl_slot slot) {                            \
        ctl_value *value = ctl_value_pointer(slot);                            \
        type result = zero;                                                    \
        if (value) __builtin_memcpy(&result, value, sizeof result);            \
        return result;                                                         \
    }                                                                          \
    CTL_INLINE bool ctl_set_##name(ctl_slot slot, type newValue) {             \
        ctl_value v;                                                           \
        __builtin_memset(&v, 0, sizeof v);                                     \
        __builtin_memcpy(&v, &newValue, sizeof newValue);                      \
        return ctl_set(slot, v);                                               \
    }
CTL__TYPED_ACCESSORS(ptr, void *CTL_NULLABLE, NULL)
CTL__TYPED_ACCESSORS(uword, uintptr_t, 0)
CTL__TYPED_ACCESSORS(u64, uint64_t, 0)
CTL__TYPED_ACCESSORS(i64, int64_t, 0)
CTL__TYPED_ACCESSORS(double, double, 0.0)
#undef CTL__TYPED_ACCESSORS

/// Marks the calling thread's entry in `slot` as being initialised.
///
/// For lazy initialisation: call it when `ctl_has_value` is false, compute the
/// value, then store it with `ctl_finish_initialization` (no lock) or
/// `ctl_set`, or call `ctl_cancel_initialization`. While the mark is set, the
/// slot reads as empty.
///
/// Returns `CTL_OK`; `CTL_EBUSY` if this thread is already initialising the
/// slot (the initialiser reached its own slot again: a recursion that would
/// never end); `CTL_EINVAL` if the slot is not live; `CTL_ENOMEM` if the
/// thread's block could not be allocated; `CTL_EEXIST` if the thread already
/// holds a value.
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

/// Statistics of the store, for tests and diagnostics. Takes the mutex.
typedef struct ctl_stats {
    /// Slots created and not yet destroyed.
    size_t live_slots;
    /// Thread blocks in the store's list: threads that hold or held a value
    /// and have not finished exiting (plus blocks of values stored after
    /// their thread's last destructor round; see `ctl_slot_create`).
    size_t registered_threads;
    /// Size of the slot table (the highest slot number ever used, plus one).
    size_t slot_table_size;
    /// Values that exited threads left (stored during their last exit sweep),
    /// kept until their slots are destroyed (see `ctl_slot_create`).
    size_t left_values;
} ctl_stats;
ctl_stats ctl_get_stats(void);

#if defined(__cplusplus)
}
#endif

#if __has_feature(nullability)
#pragma clang assume_nonnull end
#endif

#endif  // CTHREADLOCALS_H
