public import CThreadLocals

/// A thread-local object whose values on all running threads can be visited,
/// like .NET's `ThreadLocal<T>(trackAllValues: true).Values` or Rust's
/// `thread_local::ThreadLocal::iter`.
///
/// ```swift
/// final class Stats: Sendable {
///     let hits = Atomic<Int>(0)
///     let misses = Atomic<Int>(0)
/// }
/// let stats = TrackedThreadLocal { Stats() }
///
/// // on a worker thread:
/// stats.value.hits.add(1, ordering: .relaxed)
///
/// // on any thread:
/// stats.forEachValue { print($0.hits.load(ordering: .relaxed)) }
/// ```
///
/// Values are objects that are `Sendable`, so they are safe to use from the
/// visiting thread by construction: they synchronize themselves (atomics, a
/// `Mutex`, or immutable state). A thread's value is created lazily, on that
/// thread, by the initial-value closure, and is released when the thread exits
/// or when the `TrackedThreadLocal` is deinitialized, as with ``ThreadLocal``.
/// For counters and partial results that must survive their thread, use
/// ``ThreadLocalCounter`` or ``ThreadLocalAccumulator``, which fold a thread's
/// value into a total when it exits.
///
/// ## What a visitor observes
/// ``forEachValue(_:)`` and ``values`` see the values of the threads that had
/// created their value and not yet exited when they took their snapshot
/// (under a lock): a thread that exited before is never seen, and one that
/// creates its value after is not. A thread that exits while the visitor runs
/// may still be visited: the snapshot holds a strong reference, so the object
/// stays valid, but it is no longer that thread's value. What the visitor reads
/// inside each value is whatever that value's own synchronization gives. In a
/// child process made by `fork()`, only the child's one thread has a value.
///
/// ## Cost
/// ``withValue(_:)`` and ``value`` are inlined: one native thread-local load
/// (plus a retain for ``value``, which returns an owned reference). A thread's
/// first access runs the initial-value closure and takes a lock to register the
/// value. The visitors take the lock once and copy one reference per thread.
/// Values are not padded: put fields that threads update often at least 128
/// bytes apart from other threads' data if false sharing matters.
public final class TrackedThreadLocal<Value: AnyObject & Sendable>: Sendable {
    /// The slot of `_cells.cellPointer`, copied into this final class so that
    /// the accessors reach the thread's value with one load from `self`.
    @usableFromInline
    internal let _cellPointerSlot: ctl_slot
    /// Owns every thread's value. The values' access pointers are the objects
    /// themselves, unretained.
    @usableFromInline
    internal let _cells: _PerThreadCells<Value, Void>

    /// Creates a tracked thread-local whose value on each thread starts as the
    /// result of `initialValue`, run lazily on that thread.
    ///
    /// `initialValue` must not access this same `TrackedThreadLocal`. Uses two
    /// thread-local slots.
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

    /// The calling thread's value, created first if needed. Inlined, no lock
    /// once the thread has its value.
    @inlinable
    @available(*, noasync, message: "the current thread can change at every await; use TaskLocal for task-bound values")
    public var value: Value {
        // `self` owns the value (through `_cells`) and the pointer does not:
        // keep `self` alive until the value has been retained for the caller.
        defer { withExtendedLifetime(self) {} }
        let raw = _cachedCellPointer(_cellPointerSlot) ?? _cells.registerCurrentThread()
        return Unmanaged<Value>.fromOpaque(raw).takeUnretainedValue()
    }

    /// Calls `body` with the calling thread's value, created first if needed,
    /// without retaining it, and returns what `body` returns.
    @inlinable
    @available(*, noasync, message: "the current thread can change at every await; use TaskLocal for task-bound values")
    public func withValue<Result, Failure: Error>(
        _ body: (Value) throws(Failure) -> Result
    ) throws(Failure) -> Result {
        // The thread's owner holds the value while `self` lives and the thread
        // runs, so the borrowed reference is valid until `body` returns as long
        // as `self` is kept alive that long: the pointer does not do it.
        defer { withExtendedLifetime(self) {} }
        let raw = _cachedCellPointer(_cellPointerSlot) ?? _cells.registerCurrentThread()
        let outcome = Unmanaged<Value>.fromOpaque(raw)._withUnsafeGuaranteedRef { value in
            Swift.Result { () throws(Failure) in try body(value) }
        }
        return try outcome.get()
    }

    /// The values of all running threads that have one, in no particular
    /// order; see the type's documentation for what it observes. Takes the
    /// lock once; safe from any thread.
    public var values: [Value] {
        _cells.liveCells()
    }

    /// Calls `body` with the value of each running thread that has one, in no
    /// particular order, on the calling thread.
    ///
    /// It visits a snapshot taken under a lock (see ``values``) and runs `body`
    /// with no lock held, so `body` may use this `TrackedThreadLocal`. Safe from
    /// any thread.
    public func forEachValue<Failure: Error>(_ body: (Value) throws(Failure) -> Void) throws(Failure) {
        for value in values {
            try body(value)
        }
    }
}
