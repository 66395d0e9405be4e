public import CThreadLocals

/// Per-thread partial results of any type, combined on demand with a merge
/// function: per-thread statistics, histograms, sets of seen keys.
///
/// ```swift
/// struct Latencies: Sendable { var count = 0; var total: Duration = .zero; var worst: Duration = .zero }
///
/// let latencies = ThreadLocalAccumulator(initial: Latencies()) { into, next in
///     into.count += next.count
///     into.total += next.total
///     into.worst = max(into.worst, next.worst)
/// }
///
/// // on any thread:
/// latencies.update { $0.count += 1; $0.total += elapsed; $0.worst = max($0.worst, elapsed) }
///
/// // now and then:
/// let all = latencies.combined()
/// ```
///
/// Each thread updates its own value, starting from `initial`. ``combined()``
/// merges the values of the running threads into what the threads that have
/// exited left behind: when a thread exits, its value is merged into a shared
/// total, so no update is ever lost.
///
/// ## What `merge` must do
/// `merge(&into, next)` adds `next` into `into`. Values are merged in no
/// particular order, and the threads' partial values are merged in several
/// steps, so `merge` must be associative and commutative, and `initial` must
/// be its identity (merging `initial` changes nothing): 0 for a sum, an empty
/// set for a union, `.min` for a maximum. It runs with locks held: it must not
/// use this accumulator.
///
/// ## Cost
/// ``update(_:)`` is inlined: the thread's cell pointer from native
/// thread-local storage, then an uncontended lock and unlock of the cell's own
/// mutex (which ``combined()`` takes briefly to read the value). Each cell
/// lives alone on its own 128-byte aligned block(s), so threads never write to
/// a shared cache line. A thread's first update registers its cell (a lock
/// acquisition and an allocation). ``combined()`` copies the total and merges
/// one value per running thread that has used the accumulator, taking each
/// cell's lock in turn.
///
/// ## What ``combined()`` observes
/// Every update that happens before the call (on any thread, running or
/// exited) is included; an update that runs at the same time on another
/// thread is included whole or not at all; threads are read one after
/// another, not at one instant. A thread that exits is counted exactly once:
/// its value is merged into the total and its cell removed in one critical
/// section, under the lock that `combined()` holds. In a child process made by
/// `fork()`, the values of the parent's other threads are merged into the
/// total (`fork()` waits for their updates in progress to end), and only the
/// child's thread has a value.
///
/// ## Threads and Swift concurrency
/// ``update(_:)`` may be called from async code (its body is synchronous): the
/// update lands in the value of whichever thread runs it.
public final class ThreadLocalAccumulator<Value: Sendable>: Sendable {
    /// The slot of `_cells.cellPointer`, copied into this final class so that
    /// `update` reaches the thread's cell with one load from `self`.
    @usableFromInline
    internal let _cellPointerSlot: ctl_slot
    /// Owns every thread's cell. A cell's access pointer is its
    /// `_LockedStorage<Value>`.
    @usableFromInline
    internal let _cells: _PerThreadCells<_AccumulatorCell<Value>, Value>

    /// Creates an accumulator.
    ///
    /// - Parameters:
    ///   - initial: Each thread's starting value, and the combined value before
    ///     any update. Must be the identity of `merge`.
    ///   - merge: Merges its second argument into its first. Must be
    ///     associative and commutative; runs with locks held, so it must not use
    ///     this accumulator.
    ///
    /// Uses two thread-local slots.
    public init(initial: Value, merge: @escaping @Sendable (inout Value, Value) -> Void) {
        let cells = _PerThreadCells<_AccumulatorCell<Value>, Value>(
            total: initial,
            makeCell: {
                let cell = _AccumulatorCell(initial)
                return (cell, cell.storage.raw)
            },
            fold: { cell, total in
                cell.storage.withLock { merge(&total, $0) }
            },
            cellMutex: { $0.storage._mutex }
        )
        self._cells = cells
        self._cellPointerSlot = cells.cellPointerSlot
    }

    /// Calls `body` with the calling thread's value, which it mutates in place,
    /// and returns what `body` returns.
    ///
    /// Inlined. `body` runs with the thread's cell locked (uncontended unless
    /// ``combined()`` is reading that cell at that moment); it must not use this
    /// accumulator. Safe from any thread and from async code.
    @inlinable
    @discardableResult
    public func update<Result, Failure: Error>(
        _ body: (inout Value) throws(Failure) -> Result
    ) throws(Failure) -> Result {
        // `self` owns the cell (through `_cells`) and the pointer does not:
        // keep `self` alive until `body` has returned and the cell is unlocked.
        defer { withExtendedLifetime(self) {} }
        let raw = _cachedCellPointer(_cellPointerSlot) ?? _cells.registerCurrentThread()
        return try _LockedStorage<Value>(raw: raw).withLock(body)
    }

    /// The values of all threads merged together: those of the running
    /// threads and the total that exited threads left behind.
    ///
    /// Takes the lock once, and each running thread's cell lock in turn; safe
    /// from any thread.
    public func combined() -> Value {
        _cells.foldedTotal()
    }

    /// The number of running threads that have a value in this accumulator.
    /// For diagnostics and tests; takes the lock.
    public var threadCount: Int {
        _cells.threadCount
    }
}

/// One thread's cell of a `ThreadLocalAccumulator`: its value and a mutex,
/// alone on their own 128-byte aligned block(s).
@usableFromInline
internal final class _AccumulatorCell<Value: Sendable>: Sendable {
    let storage: _LockedStorage<Value>

    init(_ initial: Value) {
        storage = .allocate(initial)
    }

    /// Runs after the cell left the registry, so no other thread can reach it.
    deinit {
        storage.deallocate()
    }
}
