// SPDX-License-Identifier: Apache-2.0
//===----------------------------------------------------------------------===//
//
// CThreadLocals: native thread-local slots built on `_Thread_local`.
//
// The contract, in reading order: what a slot is; creating and destroying
// slots; what happens when a thread exits; the accessors; lazy
// initialisation; errors; statistics. The inline machinery behind the
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

/// Destroys one thread's value of a slot.
///
/// Called with the value and the context given to `ctl_slot_create`, exactly
/// once for each stored value that is not removed with `ctl_take` or
/// overwritten: on the exiting thread when its thread exits, or on the
/// destroying thread when the slot is destroyed (see "Thread exit" below for
/// the exceptions). Not at all for the values of a thread still running when
/// the process ends (`exit()` runs no thread destructors, as with pthread keys).
/// The destructor's code, like its context, must stay mapped while a thread
/// that holds a value may still exit: a destructor in a library that is later
/// `dlclose`d, other than the one containing the store, is the caller's to
/// keep loaded.
///
/// A destructor may use the store: read and write slots, create slots, and
/// destroy slots (this one included). A destructor running at a thread's exit
/// may also read and write its own slot, but only if the program does not
/// destroy that slot meanwhile: `ctl_slot_destroy` does not wait for the call
/// (see there), so its accesses would race with the destroy. A store made
/// after the destroy began then fails (false; the value stays the caller's),
/// but a value the destructor stored or took before may also be destroyed by
/// the destroy, while in use or after being taken back. So destroy such a slot
/// only after joining the threads that may still be exiting, or never. (The
/// Swift overlay meets this: a value whose `deinit` uses its `ThreadLocal`
/// holds a reference to it, which keeps the slot alive.) It runs with thread
/// cancellation disabled: a cancellation point inside it (a `write`, a
/// `usleep`) does not act, and a request made meanwhile is acted upon at the
/// thread's next cancellation point after the store returns. It must return:
/// leaving it by `pthread_exit`, `longjmp` or an exception leaves the store
/// inconsistent.
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
///   pthread keys (the store needs one in all, on first use).
///
/// Takes the store's mutex. A slot number whose generations are exhausted is
/// never handed out again.
///
/// The first call makes the object that contains the store (a shared library
/// loaded with `dlopen`, also in many copies) stay loaded for the rest of the
/// process: `dlclose` leaves it, because threads that stored a value run its
/// code when they exit. Exceptions: a first call made by that library's own
/// destructor, while it is being unloaded, comes too late to keep it; and
/// copies loaded with `dlmopen`, or by `dlopen` from a static executable, run
/// on a second C library whose thread exits the store cannot see: neither is
/// supported. Each copy takes 8 bytes of static TLS and one pthread key; with
/// glibc's default settings the static TLS area holds about 200 copies. To do so, the first call in a shared library
/// may take the dynamic loader's lock (as `dlopen` and `dladdr` do), before
/// and outside any lock of the store: calling it from a constructor of a
/// library being loaded with `dlopen` is fine, also while another thread makes
/// its own first call.
int ctl_slot_create(ctl_slot *slot, ctl_destructor CTL_NULLABLE destructor, void *CTL_NULLABLE context);

/// Destroys a slot and every thread's value in it.
///
/// Every value held by a running thread, and every value that exited threads
/// left (see "Thread exit"), is destroyed on the calling thread before
/// `ctl_slot_destroy` returns. A value that an exiting thread has already
/// taken out for its destructor call is destroyed by that thread, possibly
/// after `ctl_slot_destroy` returns: like `pthread_key_delete`, it never waits
/// for another thread, so it cannot deadlock on a lock that its caller holds
/// and such a destructor needs. Joining the exiting thread waits for its call.
/// Each value is destroyed exactly once either way.
///
/// So `destructor` and `context` must stay valid after `ctl_slot_destroy`
/// while threads that held a value in the slot may still be exiting: free
/// the context after joining them, or use one that lives as long as the
/// program.
///
/// - Returns: `CTL_OK`, or `CTL_EINVAL` if `slot` is not live (destroyed
///   already, or never created); nothing is changed then.
///
/// The slot must not be used concurrently with its destruction, also not by
/// an exit-time destructor of its values (see `ctl_destructor`). A use
/// afterwards reads as empty, and stores and `ctl_take` fail.
int ctl_slot_destroy(ctl_slot slot);

/// Whether `slot` names a live slot. Takes the store's mutex.
bool ctl_slot_is_live(ctl_slot slot);

// ---------------------------------------------------------------------------
// Thread exit
//
// When a thread exits, each value it holds is destroyed on that thread, one
// at a time. A value that a destructor stores meanwhile (in any slot) is
// destroyed too, before the thread is gone, as C++ `thread_local` and Rust do
// with destructors registered during teardown: a finite chain of destructors
// that each store a value ends at exit, whatever its length up to
// `CTL_EXIT_SWEEPS` links. Two kinds of value outlive the thread, and are
// destroyed when their slot is destroyed (otherwise never, where pthread keys
// leak them):
//
// - A destructor that stores anew every time is cut off after
//   `CTL_EXIT_SWEEPS` calls; the value it stored last stays.
// - A value stored by another library's pthread-key destructor in the C
//   library's last destructor round. (One stored in an earlier round is
//   destroyed in the next round, on the thread.)
//
// A value of the first kind costs one word, kept with its slot
// (`ctl_stats.left_values`); if memory for it runs out, it is dropped without
// a destructor call, and the exited thread keeps no other storage. A value of
// the second kind stays in the thread's block, which stays registered
// (`ctl_stats.registered_threads`) until the process ends.

/// The most times an exiting thread goes over its values (see "Thread exit");
/// it stops earlier, as soon as a pass calls no destructor.
#define CTL_EXIT_SWEEPS 1024

// ---------------------------------------------------------------------------
// fork()
//
// The store is usable in the child of `fork`, also one forked inside a
// destructor. The child keeps the forking thread's values. The other threads'
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
// The store holds its mutex from its `pthread_atfork` prepare handler to the
// parent or child handler. Handlers registered before the store's first use
// run inside that window, so they must not call the store's locked functions
// (they would wait forever), and neither may a fork made from a signal handler
// that interrupted one of them.

// ---------------------------------------------------------------------------
// Accessors
//
// A slot's value on the calling thread. Once the thread holds a value in a
// slot, every accessor below is a few inline instructions: a load of the
// thread's block pointer, a tag check and the access; no lock, no call (on
// Darwin, the `_Thread_local` access itself is a call).
//
// Async-signal-safe: a signal handler may read and write a value that its
// thread already holds, through `ctl_value_pointer` and the inline accessors
// (`ctl_get_*`, and `ctl_set_*` of a value the thread holds). No other
// function may be called from a handler: most take the store's mutex, and
// `ctl_take` and `ctl_finish_initialization`, which change the calling
// thread's own entry without it, are safe against a handler but not within
// one. The handler may interrupt its thread anywhere, in the store too: a value the
// thread puts into an empty entry (`ctl_set`, `ctl_finish_initialization`) is
// there for the handler completely or not at all, and a handler's write is
// never lost to a `ctl_take` or thread exit it interrupts (the taken value
// includes it, or the handler finds no value).
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
CTL__ALWAYS_INLINE ctl_value *CTL_NULLABLE ctl_value_pointer(ctl_slot slot);

/// Whether the calling thread holds a value in `slot`.
CTL__ALWAYS_INLINE bool ctl_has_value(ctl_slot slot);

/// The calling thread's value in `slot`, or `fallback` if it has none.
CTL__ALWAYS_INLINE ctl_value ctl_get(ctl_slot slot, ctl_value fallback);

/// Stores `value` as the calling thread's value in `slot`.
///
/// Returns true if it was stored. It is not stored, and false is returned
/// (ownership of `value` stays with the caller), when `slot` is not live or
/// memory for the thread's block ran out. A previous value is overwritten,
/// not destroyed (read it first, or remove it with `ctl_take`, to destroy it
/// yourself).
///
/// Cost: inline when the thread already holds a value in the slot. A store
/// into an empty entry (the thread's first store in the slot, or a store after
/// `ctl_take`) takes the store's mutex, which is how it fails once the slot's
/// destroy has begun: on x86_64 glibc, a `ctl_set` + `ctl_take` pair costs
/// about 170 instructions, 13 ns on one thread and 25 to 30 ns per thread on
/// two threads contending for the mutex (`Benchmarks/store-after-take.sh`).
/// To replace a value often, overwrite it (or use `ctl_value_pointer`) rather
/// than take and store it.
CTL__ALWAYS_INLINE bool ctl_set(ctl_slot slot, ctl_value value);

/// Removes the calling thread's value from `slot` without destroying it.
///
/// Returns true and writes the value to `*value` (if not NULL) if the thread
/// held one; returns false if it held none. The slot then reads as empty; the
/// thread's next store in it takes the store's mutex (see `ctl_set`). Takes no
/// lock itself.
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

/// Removes the mark set by `ctl_begin_initialization`, storing nothing. Takes
/// the store's mutex.
void ctl_cancel_initialization(ctl_slot slot);

/// Ends the initialisation begun by `ctl_begin_initialization`: stores `value`
/// as the calling thread's value, without taking the store's mutex.
///
/// Returns false, storing nothing (ownership of `value` stays with the
/// caller), if the mark is no longer set: the initialiser stored a value in
/// the slot itself (that value stays), or cancelled.
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
    /// be created: the process is out of pthread keys.
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

/// The store's statistics now. Takes the store's mutex.
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

#if defined(__cplusplus)
}
#endif

#if defined(__clang__)
#pragma clang assume_nonnull end
#endif

#include "CThreadLocals/detail.h"

#endif  // CTHREADLOCALS_H
