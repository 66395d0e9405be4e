// SPDX-License-Identifier: Apache-2.0
public import CThreadLocals
public import Synchronization

/// A counter that many threads increment without contention, like Java's
/// `LongAdder` or a kernel per-CPU counter.
///
/// ```swift
/// let requests = ThreadLocalCounter()
/// requests.increment()        // on any thread, as often as you like
/// print(requests.sum())       // now and then, on any thread
/// ```
///
/// Each thread increments its own cell; ``sum()`` adds the running threads'
/// cells to what exited threads left, so no increment is lost. What a sum
/// observes and what each operation costs: <doc:PerThreadAggregates>.
@available(macOS 15.0, iOS 18.0, watchOS 11.0, tvOS 18.0, visionOS 2.0, *)
public final class ThreadLocalCounter: Sendable {
    /// `_cells.cellPointerSlot`, copied so that a loop of increments keeps it
    /// in registers.
    @usableFromInline
    internal let _cellPointerSlot: ctl_slot
    /// Every thread's cell; the cell pointer is its `Atomic<Int>`.
    @usableFromInline
    internal let _cells: _PerThreadCells<_CounterCell, Int>

    /// Creates a counter whose sum is 0.
    public init() {
        let cells = _PerThreadCells<_CounterCell, Int>(
            total: 0,
            makeCell: {
                let cell = _CounterCell()
                return (cell, UnsafeMutableRawPointer(cell.count))
            },
            fold: { cell, total in total &+= cell.count.pointee.load(ordering: .relaxed) }
        )
        self._cells = cells
        self._cellPointerSlot = cells.cellPointerSlot
    }

    /// Adds `amount` to the calling thread's cell, wrapping around on overflow.
    @inlinable
    public func increment(by amount: Int = 1) {
        // `self` owns the cell and the pointer does not: keep `self` alive
        // until the store is done.
        defer { withExtendedLifetime(self) {} }
        let raw = _cachedCellPointer(_cellPointerSlot) ?? _cells.cellPointerRegistering()
        // Only this thread writes its cell, so an atomic load and store (a
        // reader never sees a torn value) lose no update.
        let cell = raw.assumingMemoryBound(to: Atomic<Int>.self)
        cell.pointee.store(cell.pointee.load(ordering: .relaxed) &+ amount, ordering: .relaxed)
    }

    /// Subtracts `amount` from the calling thread's cell:
    /// `increment(by: 0 &- amount)`.
    @inlinable
    public func decrement(by amount: Int = 1) {
        increment(by: 0 &- amount)
    }

    /// The sum of all increments, by running threads and by exited ones.
    public func sum() -> Int {
        _cells.registry.foldedTotal()
    }

    /// The number of threads that have a live cell, for diagnostics and
    /// tests: those that have incremented and not exited, and any whose cell
    /// was made in the last sweep of its exit
    /// (<doc:PerThreadAggregates#What-a-reader-observes>).
    public var threadCount: Int {
        _cells.registry.liveCount
    }
}

/// One thread's cell of a `ThreadLocalCounter`: an `Atomic<Int>` on its own
/// padded block.
@available(macOS 15.0, iOS 18.0, watchOS 11.0, tvOS 18.0, visionOS 2.0, *)
@usableFromInline
internal final class _CounterCell: @unchecked Sendable {
    // Sendable: the pointer is immutable and its pointee is only accessed
    // atomically. It is freed after the cell left the registry (no reader can
    // reach it).
    let count: UnsafeMutablePointer<Atomic<Int>>

    init() {
        count = _allocatePadded(byteCount: MemoryLayout<Atomic<Int>>.size).bindMemory(to: Atomic<Int>.self, capacity: 1)
        count.initialize(to: Atomic(0))
    }

    deinit {
        count.deinitialize(count: 1)
        count.deallocate()
    }
}
