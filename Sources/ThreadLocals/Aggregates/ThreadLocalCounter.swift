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
/// cells to what exited threads left, so no increment is lost. Every member
/// may be called from `async` code. What a sum observes and what each
/// operation costs: <doc:PerThreadAggregates>.
@available(macOS 15.0, iOS 18.0, watchOS 11.0, tvOS 18.0, visionOS 2.0, *)
public final class ThreadLocalCounter: Sendable {
    /// The counter's slot: each thread's word holds that thread's cell.
    @usableFromInline
    internal let _slot: ctl_slot
    /// The live cells, and what exited threads and resets left.
    @usableFromInline
    internal let _cells: _PerThreadCells<_CounterCell>

    /// Creates a counter whose sum is 0.
    ///
    /// Costs one thread-local slot, and nothing per thread until a thread
    /// increments.
    public init() {
        _cells = _PerThreadCells(total: 0, setup: ())
        _slot = _cells.makeSlot()
    }

    /// Folds every running thread's cell into the total and frees it, on the
    /// calling thread (the slot's destructor retires each cell).
    deinit {
        ctl_slot_destroy(_slot)
    }

    /// Adds `amount` to the calling thread's cell, wrapping around on overflow.
    ///
    /// - Parameter amount: What to add; negative to subtract.
    ///
    /// Inlined: a check of the thread's slot entry, a load of the cell
    /// pointer, and an add to the cell. A thread's first increment makes and
    /// registers its cell (an allocation and a lock).
    @inlinable
    public func increment(by amount: Int = 1) {
        // `self` owns the cell and the pointer does not: keep `self` alive
        // until the store is done.
        defer { withExtendedLifetime(self) {} }
        let word = ctl_value_pointer(_slot) ?? _cells.registerCell(_slot)
        let cell = _CounterCell.count(word.pointee.ptr.unsafelyUnwrapped)
        // Only this thread writes its cell, so an atomic load and store (a
        // reader never sees a torn value) lose no update.
        cell.pointee.store(cell.pointee.load(ordering: .relaxed) &+ amount, ordering: .relaxed)
    }

    /// Subtracts `amount` from the calling thread's cell:
    /// `increment(by: 0 &- amount)`.
    ///
    /// - Parameter amount: What to subtract.
    @inlinable
    public func decrement(by amount: Int = 1) {
        increment(by: 0 &- amount)
    }

    /// The sum of all increments, by running threads and by exited ones,
    /// since the counter was made or last reset.
    ///
    /// - Returns: The sum, wrapped around modulo 2⁶⁴ on overflow.
    ///
    /// Takes the counter's lock and reads one cell per running thread that
    /// has incremented.
    public func sum() -> Int {
        _cells.foldedTotal()
    }

    /// Returns the sum and starts the counter again from 0, as one step.
    ///
    /// - Returns: The sum of the increments made before the reset.
    ///
    /// Exact under concurrent increments: each increment is counted once, in
    /// the sum this returns or in what ``sum()`` returns afterwards, never in
    /// both and never in neither. (Java's `LongAdder.sumThenReset` gives no
    /// such promise.) Costs what ``sum()`` costs; no cell is written: the
    /// counter keeps the returned sum as an offset.
    public func sumThenReset() -> Int {
        _cells.withState { state in
            var sum = state.total
            for cell in state.live.keys {
                _CounterCell.fold(UnsafeMutableRawPointer(bitPattern: cell)!, into: &sum, ())
            }
            state.total &-= sum
            return sum
        }
    }

    /// Starts the counter again from 0: ``sumThenReset()`` without the sum.
    public func reset() {
        _ = sumThenReset()
    }

    /// The number of threads that have a live cell, for diagnostics and
    /// tests: those that have incremented and not exited, and any whose cell
    /// was made in the last sweep of its exit
    /// (<doc:PerThreadAggregates#What-a-reader-observes>). Takes the
    /// counter's lock.
    public var threadCount: Int {
        _cells.threadCount
    }
}

/// One thread's cell of a `ThreadLocalCounter`: an `Atomic<Int>` alone on its
/// own padded block, written by its thread only and read by the readers.
@available(macOS 15.0, iOS 18.0, watchOS 11.0, tvOS 18.0, visionOS 2.0, *)
@usableFromInline
internal enum _CounterCell: _PerThreadCell {
    @usableFromInline
    internal static var aggregate: Any.Type { ThreadLocalCounter.self }

    @inlinable
    @inline(__always)
    internal static func count(_ cell: UnsafeMutableRawPointer) -> UnsafeMutablePointer<Atomic<Int>> {
        cell.assumingMemoryBound(to: Atomic<Int>.self)
    }

    @usableFromInline
    internal static func make(_: Void) -> UnsafeMutableRawPointer {
        let cell = _allocatePadded(byteCount: MemoryLayout<Atomic<Int>>.size)
        cell.bindMemory(to: Atomic<Int>.self, capacity: 1).initialize(to: Atomic(0))
        return cell
    }

    @usableFromInline
    internal static func fold(_ cell: UnsafeMutableRawPointer, into total: inout Int, _: Void) {
        total &+= count(cell).pointee.load(ordering: .relaxed)
    }

    @usableFromInline
    internal static func free(_ cell: UnsafeMutableRawPointer) {
        count(cell).deinitialize(count: 1)
        cell.deallocate()
    }
}
