// SPDX-License-Identifier: Apache-2.0
public import CThreadLocals

/// A thread-local object whose values on all running threads can be visited,
/// like .NET's `ThreadLocal<T>.Values` or Rust's `thread_local::ThreadLocal::iter`.
///
/// ```swift
/// import Synchronization
///
/// final class Stats: Sendable { let hits = Atomic<Int>(0) }
/// let stats = TrackedThreadLocal { Stats() }
/// stats.value.hits.add(1, ordering: .relaxed)  // this thread's object
/// // every running thread's object
/// stats.forEachValue { print($0.hits.load(ordering: .relaxed)) }
/// ```
///
/// A thread's value is created lazily on that thread and released when the
/// thread exits or the `TrackedThreadLocal` goes away, as with ``ThreadLocal``.
/// Values are `Sendable` objects, so a visitor on another thread may use them.
/// What a visitor observes and what each operation costs:
/// <doc:PerThreadAggregates>.
public final class TrackedThreadLocal<Value: AnyObject & Sendable>: Sendable {
    /// `_cells.cellPointerSlot`, copied so that the accessors reach the
    /// thread's value with one load from `self`.
    @usableFromInline
    internal let _cellPointerSlot: ctl_slot
    /// Every thread's value; the cell pointer is the object itself, unretained.
    @usableFromInline
    internal let _cells: _PerThreadCells<Value, Void>

    /// Creates a tracked thread-local whose value on each thread starts as the
    /// result of `initialValue`, run lazily on that thread.
    ///
    /// `initialValue` must not access this same `TrackedThreadLocal` (that
    /// stops with a fatal error). It may return one shared object for several
    /// threads; each thread's entry in ``values`` is its own.
    ///
    /// `initialValue` is `@Sendable`, as for ``ThreadLocal/init(_:)``: it is
    /// stored once and run on every thread; see
    /// <doc:ThreadLocalsAndConcurrency#The-initial-value-closure-is-Sendable>.
    public init(_ initialValue: @escaping @Sendable () -> Value) {
        let cells = _PerThreadCells<Value, Void>(
            total: (),
            makeCell: {
                let value = initialValue()
                return (value, Unmanaged.passUnretained(value).toOpaque())
            },
            fold: { _, _ in }
        )
        self._cells = cells
        self._cellPointerSlot = cells.cellPointerSlot
    }

    /// The calling thread's value, created first if needed.
    ///
    /// `noasync`, like ``ThreadLocal``'s accessors, but with its own message:
    /// a `TrackedThreadLocal` has no `withCurrentThreadValue`.
    @inlinable
    @available(
        *,
        noasync,
        message: "the thread can change at every await; use it in a synchronous function, or TaskLocal for task context"
    )
    public var value: Value {
        // `self` owns the value and the pointer does not: keep `self` alive
        // until the value has been retained for the caller.
        defer { withExtendedLifetime(self) {} }
        let raw = _cachedCellPointer(_cellPointerSlot) ?? _cells.cellPointerRegistering()
        return Unmanaged<Value>.fromOpaque(raw).takeUnretainedValue()
    }

    /// Calls `body` with the calling thread's value, created first if needed,
    /// without retaining it, and returns what `body` returns.
    @inlinable
    @available(
        *,
        noasync,
        message: "the thread can change at every await; use it in a synchronous function, or TaskLocal for task context"
    )
    public func withValue<Result, Failure: Error>(
        _ body: (Value) throws(Failure) -> Result
    ) throws(Failure) -> Result {
        // The thread's owner holds the value while `self` lives: keep `self`
        // alive until `body` returns.
        defer { withExtendedLifetime(self) {} }
        let raw = _cachedCellPointer(_cellPointerSlot) ?? _cells.cellPointerRegistering()
        let outcome = Unmanaged<Value>.fromOpaque(raw)._withUnsafeGuaranteedRef { value in
            Swift.Result { () throws(Failure) in try body(value) }
        }
        return try outcome.get()
    }

    /// The values of the running threads that have one, in no particular
    /// order, taken under a lock: one element per thread, so an object that
    /// is the value of several threads appears once for each.
    public var values: [Value] {
        _cells.registry.liveCells()
    }

    /// Calls `body` on the calling thread with the value of each running
    /// thread that has one, in no particular order.
    ///
    /// It visits ``values`` with no lock held, so `body` may use this
    /// `TrackedThreadLocal`.
    public func forEachValue<Failure: Error>(_ body: (Value) throws(Failure) -> Void) throws(Failure) {
        for value in values {
            try body(value)
        }
    }
}

/// A `TrackedThreadLocal`'s cells are its values, and only its initial-value
/// closure, user code, runs while a cell owner is created: a recursion there is
/// reported as the `TrackedThreadLocal`'s.
extension _CellOwner: _StoredForPublicType where Total == Void {
    static var _publicTypeName: String { "TrackedThreadLocal" }
    static var _publicValueType: Any.Type { Cell.self }
}
