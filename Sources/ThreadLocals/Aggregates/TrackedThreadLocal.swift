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
///
/// // This thread's object:
/// stats.value.hits.add(1, ordering: .relaxed)
/// // Every running thread's:
/// stats.forEachValue { print($0.hits.load(ordering: .relaxed)) }
/// ```
///
/// A thread's value is created lazily on that thread and released when the
/// thread exits, when ``reset(file:line:)`` is called on that thread, or when
/// the `TrackedThreadLocal` goes away, as with ``ThreadLocal``. Values are
/// `Sendable` objects, so a visitor on another thread may use them. The
/// accessors of this thread's value are `noasync`; the visitors may be called
/// from `async` code. What a visitor observes and what each operation costs:
/// <doc:PerThreadAggregates>.
public final class TrackedThreadLocal<Value: AnyObject & Sendable>: Sendable {
    /// The slot: each thread's word holds that thread's object, retained, with
    /// bit 0 set while the thread is inside `withValue` (see `_inUse`).
    @usableFromInline
    internal let _slot: ctl_slot
    /// The live values and the initial-value closure.
    @usableFromInline
    internal let _cells: _PerThreadCells<_TrackedCell<Value>>

    /// Creates a tracked thread-local whose value on each thread starts as the
    /// result of `initialValue`, run lazily on that thread.
    ///
    /// - Parameter initialValue: Makes a thread's value, on that thread, the
    ///   first time the thread reads it. It must not access this same
    ///   `TrackedThreadLocal` (that stops with a fatal error). It may return
    ///   one shared object for several threads; each thread's entry in
    ///   ``values`` is its own.
    ///
    /// `initialValue` is `@Sendable`, as for ``ThreadLocal/init(_:)``: it is
    /// stored once and run on every thread; see
    /// <doc:ThreadLocalsAndConcurrency#The-initial-value-closure-is-Sendable>.
    public init(_ initialValue: @escaping @Sendable () -> Value) {
        _cells = _PerThreadCells(total: (), setup: initialValue)
        _slot = _cells.makeSlot()
    }

    /// Releases every running thread's value, on the calling thread (the
    /// slot's destructor retires each one).
    deinit {
        ctl_slot_destroy(_slot)
    }

    /// Bit 0 of a thread's word: set while the thread is inside
    /// ``withValue(_:)``, which borrows the object from the word without
    /// retaining it, so that ``reset(file:line:)`` there stops instead of
    /// releasing the object under `body`. Objects are at least 2-byte aligned.
    /// The mark never reaches the slot's destructor: a thread does not exit,
    /// and the slot is not destroyed, while the thread is inside `withValue`.
    @usableFromInline
    internal static var _inUse: UInt { 1 }

    /// The calling thread's value, created first if needed.
    ///
    /// Inlined: a check of the thread's slot entry, a load of the object
    /// pointer, and a retain for the caller.
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
        let word = ctl_value_pointer(_slot) ?? _cells.registerCell(_slot)
        let object = UnsafeRawPointer(bitPattern: word.pointee.uword & ~Self._inUse).unsafelyUnwrapped
        return Unmanaged<Value>.fromOpaque(object).takeUnretainedValue()
    }

    /// Calls `body` with the calling thread's value, created first if needed,
    /// without retaining it, and returns what `body` returns.
    ///
    /// - Parameter body: Uses the thread's value. It may read ``value`` and
    ///   nest `withValue`; calling ``reset(file:line:)`` inside it stops the
    ///   program with a message.
    /// - Returns: What `body` returns.
    /// - Throws: What `body` throws.
    @inlinable
    @available(
        *,
        noasync,
        message: "the thread can change at every await; use it in a synchronous function, or TaskLocal for task context"
    )
    public func withValue<Result, Failure: Error>(
        _ body: (Value) throws(Failure) -> Result
    ) throws(Failure) -> Result {
        // The word holds the value while `self` lives and the mark keeps
        // `reset` off: keep `self` alive until `body` returns.
        defer { withExtendedLifetime(self) {} }
        let word = ctl_value_pointer(_slot) ?? _cells.registerCell(_slot)
        let held = word.pointee
        word.pointee.uword = held.uword | Self._inUse
        defer { word.pointee = held }
        let object = UnsafeRawPointer(bitPattern: held.uword & ~Self._inUse).unsafelyUnwrapped
        let outcome = Unmanaged<Value>.fromOpaque(object)._withUnsafeGuaranteedRef { value in
            Swift.Result { () throws(Failure) in try body(value) }
        }
        return try outcome.get()
    }

    /// Releases the calling thread's value now and removes it from
    /// ``values``; the thread's next access runs the initial-value closure
    /// again. Does nothing if the thread has no value.
    ///
    /// - Parameters:
    ///   - file: The caller's file, for the message of a misuse.
    ///   - line: The caller's line, for the message of a misuse.
    ///
    /// For a pool thread that keeps running between jobs: drop its value when
    /// a job ends, as its exit would. Takes the `TrackedThreadLocal`'s lock.
    /// Stops the program with a message when called inside
    /// ``withValue(_:)`` on the same thread.
    @available(
        *,
        noasync,
        message: "the thread can change at every await; use it in a synchronous function, or TaskLocal for task context"
    )
    public func reset(file: StaticString = #fileID, line: UInt = #line) {
        guard let word = ctl_value_pointer(_slot) else { return }
        if word.pointee.uword & Self._inUse != 0 {
            _aggregateFailure(
                "TrackedThreadLocal<\(Value.self)>: reset() was called inside withValue on the same thread, which is using the value",
                file: file,
                line: line
            )
        }
        _cells.retireOwnCell(_slot)
    }

    /// The values of the running threads that have one, in no particular
    /// order, taken under a lock: one element per thread, so an object that
    /// is the value of several threads appears once for each.
    ///
    /// Takes the `TrackedThreadLocal`'s lock and retains each value.
    public var values: [Value] {
        _cells.withState { state in
            state.live.flatMap { cell, threads in
                repeatElement(_TrackedCell<Value>.object(UnsafeMutableRawPointer(bitPattern: cell)!), count: threads)
            }
        }
    }

    /// Calls `body` on the calling thread with the value of each running
    /// thread that has one, in no particular order.
    ///
    /// - Parameter body: Uses one value. It runs with no lock held, so it may
    ///   use this `TrackedThreadLocal`.
    /// - Throws: What `body` throws; the visit stops there.
    ///
    /// Visits ``values``, taken when the call starts.
    public func forEachValue<Failure: Error>(_ body: (Value) throws(Failure) -> Void) throws(Failure) {
        for value in values {
            try body(value)
        }
    }
}

/// One thread's cell of a `TrackedThreadLocal`: the value object itself,
/// retained by the thread's word.
@usableFromInline
internal enum _TrackedCell<Value: AnyObject & Sendable>: _PerThreadCell {
    @usableFromInline
    internal static var aggregate: Any.Type { TrackedThreadLocal<Value>.self }

    static func object(_ cell: UnsafeMutableRawPointer) -> Value {
        Unmanaged<Value>.fromOpaque(cell).takeUnretainedValue()
    }

    @usableFromInline
    internal static func make(_ initialValue: @Sendable () -> Value) -> UnsafeMutableRawPointer {
        Unmanaged.passRetained(initialValue()).toOpaque()
    }

    @usableFromInline
    internal static func fold(
        _ cell: UnsafeMutableRawPointer,
        into total: inout Void,
        _ initialValue: @Sendable () -> Value
    ) {}

    @usableFromInline
    internal static func free(_ cell: UnsafeMutableRawPointer) {
        Unmanaged<Value>.fromOpaque(cell).release()
    }
}
