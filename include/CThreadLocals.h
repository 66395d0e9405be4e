// SPDX-License-Identifier: Apache-2.0
//===----------------------------------------------------------------------===//
//
// CThreadLocals: native thread-local slots built on `_Thread_local`.
//
// The contract, in reading order: what a slot is; creating and destroying
// slots; what happens when a thread exits; fork; loading and unloading; the
// accessors; lazy initialisation; errors; statistics; building. The inline machinery behind the
// accessors is in `CThreadLocals/detail.h`, included at the end; the design is
// the DocC article "How it works"
// (Sources/ThreadLocals/ThreadLocals.docc/HowItWorks.md).
//
// Every name starts with `ctl_` or `CTL_`. Names that start with `ctl__` or
// `CTL__` are implementation details that may change in any release; do not
// use them.
// Supported compilers: GCC and Clang, as C11 or later and as C++.
//
//===----------------------------------------------------------------------===//

#ifndef CTHREADLOCALS_H
#define CTHREADLOCALS_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#if defined(__clang__)
#pragma clang assume_nonnull begin
#define CTL_NULLABLE _Nullable
#else
#define CTL_NULLABLE
#endif

/// Forces the accessors inline, so that they compile into the caller, whether
/// the caller is C or Swift.
#define CTL__ALWAYS_INLINE static inline __attribute__((always_inline))

#if defined(__cplusplus)
extern "C" {
#endif

// ---------------------------------------------------------------------------
// Slots

/// One word of a slot, read and written through the typed accessors
/// (`ctl_get_<member>`, `ctl_set_<member>`).
typedef union ctl_value {
    void *CTL_NULLABLE ptr;
    uintptr_t uword;
    uint64_t u64;
    int64_t i64;
    double f64;
} ctl_value;

/// A handle to a slot: a process-wide name for one word that every thread has
/// its own copy of.
///
/// Slots are created and destroyed at run time, like pthread keys, but with
/// no limit on their number. Handles are plain values; copy them freely, and
/// make them only with `ctl_slot_create`. A destroyed slot's number may be
/// reused, but a handle carries the number's generation, so it never names a
/// later slot: the handle of a destroyed slot reads as empty for good, and
/// stores, `ctl_take` and `ctl_slot_destroy` refuse it. So does a
/// zero-initialized handle, which names no slot.
typedef struct ctl_slot {
    /// Implementation detail, read by the inline accessors: the entry of the
    /// thread's block that the fast path checks (see `CTL_LANE_COUNT`).
    uint32_t ctl__lane;
    /// The generation of `index`: 1 ... 0x7ffffffe.
    uint32_t generation;
    /// The slot number. The lowest free number is handed out first.
    uint32_t index;
} ctl_slot;

/// The number of slot numbers whose entries the fast path reaches with one tag
/// check. Accesses to slots numbered above it go through an inline lookup in
/// per-thread chunks (a few more loads, still no call). A program with fewer
/// than this many live slots uses only the fast path.
#define CTL_LANE_COUNT 64

// ---------------------------------------------------------------------------
// Creating and destroying slots
//
// Every function below follows one skeleton: a summary, then its returns,
// what it locks, whether a signal handler may call it, and links. "The
// store's mutex" is the one process-wide lock of a copy of the store; no
// function waits for another thread while holding it.

/// Destroys one thread's value of a slot: called with the value and the
/// `context` given to `ctl_slot_create`.
///
/// Called exactly once for each stored value that is not taken back with
/// `ctl_take` or overwritten: on the exiting thread when its thread exits
/// (see "Thread exit"), or on the destroying thread by `ctl_slot_destroy`;
/// never for the values of threads still running when the process ends
/// (`exit()` runs no thread destructors, as with pthread keys).
///
/// - May: use the store (read, write, create and destroy slots, this one
///   included). At thread exit it may also use its own slot, if the program
///   does not destroy that slot meanwhile: see `ctl_slot_destroy`.
/// - Must: return (leaving by `pthread_exit`, `longjmp` or an exception leaves
///   the store inconsistent); stay mapped, with its context valid, while a
///   thread that holds a value may still exit (see "Loading and unloading").
/// - Runs with the store's mutex released and thread cancellation disabled
///   (deferred cancellation; asynchronous cancellation of a thread inside any
///   function of the store is undefined, as for most of the C library):
///   a cancellation point inside it does not act; a request made meanwhile
///   acts at the thread's next cancellation point after the store returns.
typedef void (*ctl_destructor)(ctl_value value, void *CTL_NULLABLE context);

/// Creates a slot, with no value on any thread.
///
/// - Parameters:
///   - slot: Receives the new slot's handle.
///   - destructor: Called for each value the slot still holds when its thread
///     exits or when the slot is destroyed; `NULL` for none (values are then
///     dropped, as for scalars).
///   - context: Passed to `destructor` unchanged.
/// - Returns: `CTL_OK`; `CTL_ENOMEM`; `CTL_EAGAIN` if the process is out of
///   pthread keys (the store needs one per copy; a later call tries again).
/// - Locking: takes the store's mutex; never calls the dynamic loader.
/// - Signal safety: not async-signal-safe.
///
/// A slot number whose generations are exhausted is never handed out again.
int ctl_slot_create(ctl_slot *slot, ctl_destructor CTL_NULLABLE destructor, void *CTL_NULLABLE context);

/// Destroys a slot and every thread's value in it.
///
/// Every value held by a running thread, and every value that exited threads
/// left (see "Thread exit"), is destroyed on the calling thread before it
/// returns. A value that an exiting thread has already taken out for its
/// destructor call is destroyed by that thread, possibly later: like
/// `pthread_key_delete`, `ctl_slot_destroy` never waits for another thread.
/// So `destructor` and `context` must stay valid while threads that held a
/// value may still be exiting (join them first, or use a context that lives
/// as long as the program).
///
/// The slot must not be used concurrently with its destruction, with one
/// exception: a store into an empty entry (`ctl_set`,
/// `ctl_finish_initialization`) racing the destroy either lands before the
/// destroy takes the value (returns true; the destroy destroys it) or fails
/// (returns false; the value stays the caller's). An exit-time destructor
/// that stores into its own slot is such a store, but a value it stored or
/// took before may be destroyed by the destroy while it uses it: destroy such
/// a slot only after joining the threads that may still be exiting, or never.
/// Afterwards the handle reads as empty, and stores and `ctl_take` fail.
///
/// - Returns: `CTL_OK`, or `CTL_EINVAL` if `slot` is not live (destroyed
///   already, or never created); nothing is changed then.
/// - Locking: takes the store's mutex, released around each destructor call.
/// - Signal safety: not async-signal-safe.
int ctl_slot_destroy(ctl_slot slot);

/// Whether `slot` names a live slot.
///
/// - Locking: none (one atomic load).
/// - Signal safety: async-signal-safe.
bool ctl_slot_is_live(ctl_slot slot);

// ---------------------------------------------------------------------------
// Thread exit
//
// When a thread exits, its values are destroyed on that thread, one at a
// time, in sweeps: each sweep goes once over the thread's entries, in slot
// number order up to the numbers handed out when it began, and calls the
// destructor of each value it finds there; the sweeps go on
// until one calls none, at most `CTL_EXIT_SWEEPS` of them. So a finite chain
// of destructors that each store a value (in any slot, also a slot created on
// the way) ends at exit, whatever its length up to `CTL_EXIT_SWEEPS` links,
// as with C++ `thread_local` and Rust; and each slot's destructor runs at
// most `CTL_EXIT_SWEEPS` times in each round of the C library's thread-exit
// destructors (`PTHREAD_DESTRUCTOR_ITERATIONS`: 4 with glibc; a new round for
// the store comes only from another library's key destructor storing a
// value), which bounds the exit's work.
// Two kinds of value outlive the thread, and are destroyed when their slot is
// destroyed (otherwise never, where pthread keys leak them):
//
// - A value stored during the last sweep (by a destructor that stores anew
//   every time, or a chain longer than the bound). It costs one word, kept
//   with its slot (`ctl_stats.left_values`); if memory for it runs out, it is
//   dropped without a destructor call.
// - A value stored by another library's pthread-key destructor in the C
//   library's last destructor round. (One stored in an earlier round is
//   destroyed in the next round, on the thread.) It stays in the thread's
//   block, which stays registered (`ctl_stats.registered_threads`) until the
//   process ends.

/// The most sweeps an exiting thread makes over its values in one round of
/// the C library's key destructors (see "Thread exit").
#define CTL_EXIT_SWEEPS 1024

// ---------------------------------------------------------------------------
// fork()
//
// The store is usable in the child of `fork`, also one forked inside a
// destructor or while another thread is inside the store or the dynamic
// loader. The child keeps the forking thread's values. The other threads'
// values, and the values exited threads left, are dropped without destructor
// calls (as with pthread keys): those threads do not exist in the child. Two
// exceptions: a fork inside a destructor that `ctl_slot_destroy` is running
// leaves the child running that destroy too, so it goes on to destroy the
// values the destroy had already taken from other threads (in the child's
// copy); and a slot whose `ctl_slot_destroy` was running on another thread at
// the fork stays destroying in the child: stores into it fail, its destroy
// returns `CTL_EINVAL`, its number is never reused, and
// `ctl_stats.live_slots` still counts it; the forking thread's value in it,
// if the destroy had not taken it yet, is destroyed at that thread's exit.
//
// The store registers its `pthread_atfork` handlers when it is loaded, and
// holds its mutex from its prepare handler to the parent or child handler.
// Prepare handlers run in the reverse order of registration, so those of
// libraries loaded later run before the store's and may use the store; a
// handler registered before the store was loaded (in the main program, by a
// library loaded earlier) runs inside the window and must not call the
// functions that take the store's mutex, and neither may a fork made from a
// signal handler that interrupted one of them.

// ---------------------------------------------------------------------------
// Loading and unloading
//
// 1. Set-up at load time. The store's process-level set-up (its pthread key,
//    its fork handlers, and the decision whether to pin its object) runs in
//    a constructor of the object that contains it, while the loader loads
//    it. No later call makes a loader call, so the store may be first used
//    anywhere: in a forked child, in a destructor of a plugin being unloaded
//    with `dlclose`, in a constructor of a library being loaded. (A first
//    call made by another object's constructor before the store's own ran
//    runs the set-up itself, inside that loader call.)
// 2. Pinning. An object that contains the store and was loaded with `dlopen`
//    pins itself when it is loaded: `dlclose` leaves it mapped, because
//    threads that stored a value run its code when they exit.
// 3. Copies. Each copy of the store (a library loaded many times under
//    several names, or several libraries each built with the store) is
//    independent, whatever `RTLD_LOCAL` or `RTLD_GLOBAL` loads each and in
//    whatever order: on ELF, the store's definitions have protected
//    visibility, so calls from code linked into the same object (the inline
//    accessors included) bind within that copy; a handle is meaningful only
//    to the copy that created it. Code in another object that uses a copy
//    (a plugin linked against the store's shared library) binds to it as any
//    ELF code binds to a library: if a second copy may later be loaded with
//    `RTLD_GLOBAL`, link that object with `-Wl,-z,now` (or load it with
//    `RTLD_NOW`), so that its calls are bound before the second copy can
//    take them. Each copy takes 8 bytes of static TLS and one pthread key;
//    with glibc's default settings the static TLS area holds about 200
//    copies.
// 4. Destructors in other libraries. A destructor whose code is in a library
//    that is later unloaded, other than the one that contains the store, is
//    the caller's to keep loaded while a thread that holds a value may still
//    exit.
// 5. Not supported: copies loaded with `dlmopen`, or by `dlopen` from a
//    static executable, which run on a second C library whose thread exits
//    the store cannot see.

// ---------------------------------------------------------------------------
// Accessors
//
// A slot's value on the calling thread. Once the thread holds a value in a
// slot, every accessor below is a few inline instructions: a load of the
// thread's block pointer, a tag check and the access; no lock, no call (on
// Darwin, the `_Thread_local` access itself is a call). A thread's operations
// on its own entry of a live slot take no lock at all, also when the entry is
// empty; only the thread's first store in any slot (its registration) takes
// the store's mutex, once.
//
// Async-signal-safe: a signal handler may read and write a value that its
// thread already holds, through `ctl_value_pointer` and the inline accessors
// (`ctl_get_*`, and `ctl_set_*` of a value the thread holds), and call
// `ctl_slot_is_live`. No other function may be called from a handler (they
// may register the thread, allocate, or take the store's mutex). The handler
// may interrupt its thread anywhere, in the store too: a value the thread
// puts into an empty entry (`ctl_set`, `ctl_finish_initialization`) is there
// for the handler completely or not at all, and a handler's write is never
// lost to a `ctl_take` or thread exit it interrupts (the taken value
// includes it, or the handler finds no value). One exception: a store into
// an empty entry that races a destroy of its slot (see `ctl_slot_destroy`)
// and fails may have been seen by a handler meanwhile, as a value of the
// dying slot; what the handler wrote into it is dropped with it.
//
// Within a value the handler has what any C object gives it: a word-sized
// value (`ptr`, `uword`) is read and written whole on every target; on 32-bit
// targets a 64-bit value (`u64`, `i64`, `f64`) that the interrupted thread is
// in the middle of writing or reading in place may be seen, or left,
// half-written, as with any object that is not a `sig_atomic_t`. Use
// word-sized values for what a handler shares with its thread.

/// A pointer to the calling thread's value in `slot`, or NULL if it has none.
///
/// Read and write the value in place through it. It stays valid until the
/// value is removed from the slot (`ctl_take`, destruction of the slot, or the
/// thread's exit); storage never moves while the thread runs.
///
/// - Locking: none; inline.
/// - Signal safety: async-signal-safe.
CTL__ALWAYS_INLINE ctl_value *CTL_NULLABLE ctl_value_pointer(ctl_slot slot);

/// Whether the calling thread holds a value in `slot`. Inline, no lock,
/// async-signal-safe.
CTL__ALWAYS_INLINE bool ctl_has_value(ctl_slot slot);

/// The calling thread's value in `slot`, or `fallback` if it has none.
/// Inline, no lock, async-signal-safe.
CTL__ALWAYS_INLINE ctl_value ctl_get(ctl_slot slot, ctl_value fallback);

/// Stores `value` as the calling thread's value in `slot`.
///
/// A previous value is overwritten, not destroyed (read it first, or remove
/// it with `ctl_take`, to destroy it yourself).
///
/// - Returns: true if stored; false (ownership of `value` stays with the
///   caller) when `slot` is not live, its destroy has begun (see
///   `ctl_slot_destroy`), or memory for the thread's storage ran out.
/// - Locking: inline when the thread holds a value in the slot. A store into
///   an empty entry (the thread's first store in the slot, or one after
///   `ctl_take`) is a call that takes no lock, except the thread's very
///   first store in any slot, which registers the thread under the store's
///   mutex. On x86_64 glibc a `ctl_set` + `ctl_take` pair takes no more
///   time than a pthread key's set, get and clear, at 1, 2 or 4 threads
///   (`bash Benchmarks/compare.sh --only store-after-take`).
/// - Signal safety: async-signal-safe when the thread holds a value in the
///   slot.
CTL__ALWAYS_INLINE bool ctl_set(ctl_slot slot, ctl_value value);

/// Removes the calling thread's value from `slot` without destroying it.
///
/// - Returns: true, writing the value to `*value` (if not NULL), if the
///   thread held one; false if it held none. The slot then reads as empty.
/// - Locking: none.
/// - Signal safety: safe against a handler that interrupts it (see
///   "Accessors"), not callable from one.
bool ctl_take(ctl_slot slot, ctl_value *CTL_NULLABLE value);

/// Typed accessors, one pair per member of `ctl_value`: the value as that
/// member's type, NULL or 0 if the thread holds none; setters return what
/// `ctl_set` returns. A value is read back as the type it was stored as.
CTL__ALWAYS_INLINE void *CTL_NULLABLE ctl_get_ptr(ctl_slot slot);
CTL__ALWAYS_INLINE bool ctl_set_ptr(ctl_slot slot, void *CTL_NULLABLE value);
CTL__ALWAYS_INLINE uintptr_t ctl_get_uword(ctl_slot slot);
CTL__ALWAYS_INLINE bool ctl_set_uword(ctl_slot slot, uintptr_t value);
CTL__ALWAYS_INLINE uint64_t ctl_get_u64(ctl_slot slot);
CTL__ALWAYS_INLINE bool ctl_set_u64(ctl_slot slot, uint64_t value);
CTL__ALWAYS_INLINE int64_t ctl_get_i64(ctl_slot slot);
CTL__ALWAYS_INLINE bool ctl_set_i64(ctl_slot slot, int64_t value);
CTL__ALWAYS_INLINE double ctl_get_f64(ctl_slot slot);
CTL__ALWAYS_INLINE bool ctl_set_f64(ctl_slot slot, double value);

// ---------------------------------------------------------------------------
// Lazy initialisation
//
// Call `ctl_begin_initialization` when `ctl_has_value` is false, compute the
// value, then store it with `ctl_finish_initialization` (or `ctl_set`), or
// call `ctl_cancel_initialization`. While the mark is set, the slot reads as
// empty. None of the three takes a lock once the thread is registered, and
// none may be called from a signal handler.

/// Marks the calling thread's entry in `slot` as being initialised.
///
/// - Returns: `CTL_OK`; `CTL_EBUSY` if this thread is already initialising
///   the slot (the initialiser reached its own slot again: a recursion that
///   would never end); `CTL_EINVAL` if the slot is not live; `CTL_ENOMEM` if
///   the thread's storage could not be allocated; `CTL_EEXIST` if the thread
///   already holds a value.
int ctl_begin_initialization(ctl_slot slot);

/// Removes the mark set by `ctl_begin_initialization`, storing nothing.
void ctl_cancel_initialization(ctl_slot slot);

/// Ends the initialisation begun by `ctl_begin_initialization`: stores
/// `value` as the calling thread's value.
///
/// - Returns: true if stored; false, storing nothing (ownership of `value`
///   stays with the caller), if the mark is gone (the initialiser stored a
///   value in the slot itself, which stays; it cancelled; or the slot's
///   destroy began, as for `ctl_set`).
bool ctl_finish_initialization(ctl_slot slot, ctl_value value);

// ---------------------------------------------------------------------------
// Errors

/// The results of the functions that return `int`: 0 or the platform's
/// `errno` value of the same name, so `strerror` describes them.
enum {
    /// Success.
    CTL_OK = 0,
    /// The slot handle does not name a live slot (never created, or destroyed).
    CTL_EINVAL = EINVAL,
    /// Memory for the store's tables could not be allocated.
    CTL_ENOMEM = ENOMEM,
    /// The store's one pthread key (used to learn of thread exits) could not
    /// be created: the process is out of pthread keys. A later
    /// `ctl_slot_create` tries again.
    CTL_EAGAIN = EAGAIN,
    /// `ctl_begin_initialization`: the thread is already initialising the slot.
    CTL_EBUSY = EBUSY,
    /// `ctl_begin_initialization`: the thread already holds a value.
    CTL_EEXIST = EEXIST,
};

// ---------------------------------------------------------------------------
// Statistics

/// Statistics of the store, for tests and diagnostics.
typedef struct ctl_stats {
    /// Slots created and not yet destroyed.
    size_t live_slots;
    /// Threads that hold or held a value and have not finished exiting (plus
    /// those whose blocks stay; see "Thread exit").
    size_t registered_threads;
    /// Size of the slot table (the highest slot number ever used, plus one).
    size_t slot_table_size;
    /// Values that exited threads left, kept until their slots are destroyed
    /// (see "Thread exit").
    size_t left_values;
} ctl_stats;

/// The store's statistics now.
///
/// - Locking: takes the store's mutex.
/// - Signal safety: not async-signal-safe.
ctl_stats ctl_get_stats(void);

// ---------------------------------------------------------------------------
// Building
//
// The store's one `_Thread_local` variable uses the `initial-exec` TLS model,
// also in a shared library (no `__tls_get_addr` call per access; 8 bytes of
// static TLS per copy of the store). Define `CTL_TLS_MODEL_DEFAULT` when
// compiling to use the compiler's default model instead, for a C library that
// refuses initial-exec TLS in libraries loaded with `dlopen`. Darwin ignores
// the model.
//
// On Linux, a store into an empty entry and a destroy of its slot agree
// through `membarrier(2)` (registered when the store is loaded; see "How it
// works"), so that the store needs no locked instruction. A process that
// forbids `membarrier` after the store has loaded (a seccomp filter installed
// later) makes its next destroy with other registered threads stop the
// program with a message. Define `CTL_FULL_FENCES` when compiling to use full
// fences on both sides instead, as on systems without `membarrier`.

#if defined(__cplusplus)
}
#endif

#if defined(__clang__)
#pragma clang assume_nonnull end
#endif

#include "CThreadLocals/detail.h"

#endif  // CTHREADLOCALS_H
