// SPDX-License-Identifier: Apache-2.0
public import CThreadLocals

/// Per-thread partial results of any type, merged on demand: statistics,
/// histograms, sets of seen keys.
///
/// ```swift
/// let seen = ThreadLocalAccumulator<Set<String>>(initial: []) {
///     $0.formUnion($1)
/// }
/// seen.update { $0.insert(key) }     // on any thread
/// let all = seen.combined()          // now and then, on any thread
/// ```
///
/// Each thread updates its own value, starting from `initial`; ``combined()``
/// merges the running threads' values into what exited threads left, so no
/// update is lost. `merge` must be associative and commutative, with `initial`
/// as its identity (0 for a sum, an empty set for a union, `.min` for a
/// maximum). What ``combined()`` observes and what each operation costs:
/// <doc:PerThreadAggregates>.
public final class ThreadLocalAccumulator<Value: Sendable>: Sendable {
    /// `_cells.cellPointerSlot`, copied so that `update` reaches the thread's
    /// cell with one load from `self`.
    @usableFromInline
    internal let _cellPointerSlot: ctl_slot
    /// Every thread's cell; the cell pointer is its `_LockedStorage<Value>`.
    @usableFromInline
    internal let _cells: _PerThreadCells<_AccumulatorCell<Value>, Value>

    /// Creates an accumulator.
    ///
    /// - Parameters:
    ///   - initial: Each thread's starting value, and the combined value
    ///     before any update: the identity of `merge`.
    ///   - merge: Merges its second argument into its first. Runs with locks
    ///     held: it must not use this accumulator (that blocks forever).
    public init(initial: Value, merge: @escaping @Sendable (inout Value, Value) -> Void) {
        let cells = _PerThreadCells<_AccumulatorCell<Value>, Value>(
            total: initial,
            makeCell: {
                let cell = _AccumulatorCell(initial)
                return (cell, cell.storage.raw)
            },
            fold: { cell, total in cell.storage.withLock { merge(&total, $0) } }
        )
        self._cells = cells
        self._cellPointerSlot = cells.cellPointerSlot
    }

    /// Calls `body` with the calling thread's value to mutate in place, and
    /// returns what `body` returns.
    ///
    /// `body` runs with the thread's cell locked: it must not use this
    /// accumulator (that blocks forever).
    @inlinable
    @discardableResult
    public func update<Result, Failure: Error>(
        _ body: (inout Value) throws(Failure) -> Result
    ) throws(Failure) -> Result {
        // `self` owns the cell and the pointer does not: keep `self` alive
        // until `body` has returned and the cell is unlocked.
        defer { withExtendedLifetime(self) {} }
        let raw = _cachedCellPointer(_cellPointerSlot) ?? _cells.cellPointerRegistering()
        return try _LockedStorage<Value>(raw: raw).withLock(body)
    }

    /// The values of all threads merged: the running threads' and what exited
    /// threads left.
    public func combined() -> Value {
        _cells.registry.foldedTotal()
    }

    /// The number of threads that have a live cell, for diagnostics and
    /// tests: those that have updated and not exited, and any whose cell was
    /// made in the last sweep of its exit
    /// (<doc:PerThreadAggregates#What-a-reader-observes>).
    public var threadCount: Int {
        _cells.registry.liveCount
    }
}

/// One thread's cell of a `ThreadLocalAccumulator`: its value and a mutex, on
/// their own padded block.
@usableFromInline
internal final class _AccumulatorCell<Value: Sendable>: Sendable {
    let storage: _LockedStorage<Value>

    init(_ initial: Value) {
        storage = .allocate(initial)
    }

    /// Runs after the cell left the registry: no other thread can reach it.
    deinit {
        storage.deallocate()
    }
}
