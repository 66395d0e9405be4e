public import CThreadLocals
public import Synchronization

/// A counter that many threads increment without contention, like Java's
/// `LongAdder` or a kernel per-CPU counter.
///
/// ```swift
/// let requests = ThreadLocalCounter()
///
/// // on any thread, as often as you like:
/// requests.increment()
/// requests.increment(by: 3)
///
/// // now and then, on any thread:
/// print(requests.sum())
/// ```
///
/// Each thread increments its own cell, which lives alone on its own 128-byte
/// block, so threads never write to a shared cache line. ``sum()`` adds up the
/// cells of the running threads and the contributions of threads that have
/// exited: when a thread exits, its cell is folded into a shared total, so no
/// increment is ever lost.
///
/// ## Cost
/// ``increment(by:)`` is inlined into the caller: the thread's cell pointer
/// from native thread-local storage, then a relaxed atomic load and store
/// (plain loads and stores: one `incq` to memory on x86_64). No lock,
/// no read-modify-write atomic instruction, no retain or release, and no call.
/// A thread's first increment takes a lock to register its cell (and allocates
/// it: 128 bytes and a small owner object). ``sum()`` takes a lock and reads
/// one cell per thread that has used the counter and is still running: its
/// cost grows with that number of threads, not with the number of increments.
///
/// A counter uses two thread-local slots (see ``ThreadLocal``): in programs
/// with more than 64 live slots in all, the ones beyond are reached through a
/// per-thread heap chunk, a few instructions more per increment.
///
/// ## What ``sum()`` observes
/// - Every increment that happens before the call to `sum()` (on the calling
///   thread, on a thread that was joined, or on one that handed over through a
///   lock, a queue or any other synchronization) is included, whether its
///   thread is still running or has exited.
/// - An increment that runs at the same time as `sum()` on another thread is
///   either included or not; each thread's increments are seen in order, so
///   a thread's contribution is always a prefix of its increments.
/// - The cells are read one after another, not all at one instant, so the sum
///   is not a snapshot of a single moment (as with `LongAdder`).
/// - A thread that exits is counted exactly once: its cell is folded into the
///   total and removed from the live cells in one critical section, under the
///   same lock that `sum()` takes.
/// - So when every amount is non-negative (and there is no overflow), two
///   successive calls to `sum()` never decrease, whatever threads do.
/// - In a child process made by `fork()`, the cells of the parent's other
///   threads are folded into the total: the sum is the parent's, and only the
///   child's thread has a cell.
///
/// Arithmetic wraps around on overflow, like `Atomic<Int>.wrappingAdd`; the sum
/// is exact modulo 2⁶⁴.
///
/// ## Threads and Swift concurrency
/// ``increment(by:)`` may be called from async code: the increment lands in
/// the cell of whichever thread runs it, and the sum is the same. Unlike a
/// shared `Atomic`, a task that hops between threads may touch several cells.
@available(macOS 15.0, iOS 18.0, watchOS 11.0, tvOS 18.0, visionOS 2.0, *)
public final class ThreadLocalCounter: Sendable {
    /// The slot of `_cells.cellPointer`, copied into this final class so that
    /// the compiler can keep it in registers across a loop of increments.
    @usableFromInline
    internal let _cellPointerSlot: ctl_slot
    /// Owns every thread's cell. A cell's access pointer is its
    /// `Atomic<Int>`.
    @usableFromInline
    internal let _cells: _PerThreadCells<_CounterCell, Int>

    /// Creates a counter whose sum is 0. Uses two thread-local slots.
    public init() {
        let cells = _PerThreadCells<_CounterCell, Int>(
            total: 0,
            makeCell: {
                let cell = _CounterCell()
                return (cell, UnsafeMutableRawPointer(cell.count))
            },
            fold: { cell, total in
                total &+= cell.count.pointee.load(ordering: .relaxed)
            }
        )
        self._cells = cells
        self._cellPointerSlot = cells.cellPointerSlot
    }

    /// Adds `amount` to the calling thread's cell.
    ///
    /// Inlined, no lock: a thread-local load, then a relaxed atomic load and
    /// store of a cell that only this thread writes. The thread's first
    /// increment registers its cell. Wraps around on overflow. Safe from any
    /// thread and from async code.
    @inlinable
    public func increment(by amount: Int = 1) {
        // `self` owns the cell (through `_cells`) and the pointer does not:
        // keep `self` alive until the store is done.
        defer { withExtendedLifetime(self) {} }
        let raw = _cachedCellPointer(_cellPointerSlot) ?? _cells.registerCurrentThread()
        // Only this thread writes its cell, so a load and a store, each atomic
        // (readers never see a torn value), add without a lost update.
        let cell = raw.assumingMemoryBound(to: Atomic<Int>.self)
        cell.pointee.store(cell.pointee.load(ordering: .relaxed) &+ amount, ordering: .relaxed)
    }

    /// Subtracts `amount` from the calling thread's cell; the same as
    /// `increment(by: 0 &- amount)`.
    ///
    /// A counter that is ever decremented may show a smaller ``sum()`` than a
    /// previous call did.
    @inlinable
    public func decrement(by amount: Int = 1) {
        increment(by: 0 &- amount)
    }

    /// The sum of all increments: those of the running threads' cells and
    /// those folded in by threads that have exited.
    ///
    /// See the type's documentation for what it observes of increments that
    /// run at the same time. Takes the lock once; safe from any thread.
    public func sum() -> Int {
        _cells.foldedTotal()
    }

    /// The number of running threads that have a cell in this counter (they
    /// have incremented it and not exited). For diagnostics and tests; takes
    /// the lock.
    public var threadCount: Int {
        _cells.threadCount
    }
}

/// One thread's cell of a `ThreadLocalCounter`: an `Atomic<Int>` alone on a
/// 128-byte block.
@available(macOS 15.0, iOS 18.0, watchOS 11.0, tvOS 18.0, visionOS 2.0, *)
@usableFromInline
internal final class _CounterCell: @unchecked Sendable {
    // Sendable: the pointer is immutable, and its pointee is an `Atomic`, only
    // ever accessed through atomic operations. It is freed in deinit, after the
    // cell has left the registry (so no reader can reach it).
    let count: UnsafeMutablePointer<Atomic<Int>>

    init() {
        count = _allocatePadded(Atomic<Int>.self)
        count.initialize(to: Atomic(0))
    }

    deinit {
        count.deinitialize(count: 1)
        count.deallocate()
    }
}
