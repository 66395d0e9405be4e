// SPDX-License-Identifier: Apache-2.0
public import CThreadLocals

/// A variable with a separate value for every thread, stored in native
/// `_Thread_local` storage.
///
/// Like Python's `threading.local()`: what one thread stores, only that thread
/// sees, so code deep in a call chain can reach "its" thread's data without
/// every caller passing it along.
///
/// ```swift
/// let requestID = ThreadLocal<String?>()       // Optional values start as nil
/// let scratch = ThreadLocal { [UInt8](repeating: 0, count: 4096) }
///
/// requestID.value = "req-42"                   // this thread only
/// scratch.value[0] = 1                         // in place, no copy
/// scratch.withValue { $0.append(2) }
/// ```
///
/// Each thread's value is created lazily, by the initial-value closure, the
/// first time that thread reads or mutates it, and released when the thread
/// exits, when ``reset()`` is called on that thread, or when the `ThreadLocal`
/// goes away. The accessors are `noasync`; in `async` functions use
/// ``withCurrentThreadValue(_:)`` for caches and counters, and `TaskLocal` for
/// context that follows a task.
///
/// - What each access costs, and what is checked: <doc:GettingStarted#What-it-costs>.
/// - Which values are stored without a box: <doc:ThreadLocal#Which-values-are-stored-without-a-box>.
/// - When values are released, thread exit included: <doc:ValueLifetimes>.
/// - `async` code, `Sendable`, and caches of non-`Sendable` objects: <doc:ThreadLocalsAndConcurrency>.
/// - Overlapping accesses on one thread, and every other misuse: <doc:MisuseAndItsOutcome>.
@dynamicMemberLookup
public final class ThreadLocal<Value> {

    /// The C slot. Invariant: live for the lifetime of `self` (created in
    /// `init`, destroyed only in `deinit`).
    @usableFromInline
    internal let _slot: ctl_slot

    @usableFromInline
    internal let _initialValue: @Sendable () -> Value

    /// Whether `Value` is an `Optional`, for `_flattened`: asked of the
    /// runtime once, here, since the compiler does not answer it for a
    /// concrete type (it calls the runtime at every use).
    @usableFromInline
    internal let _valueIsOptional: Bool

    /// Creates a thread-local variable whose value, on each thread, starts as
    /// the result of `initialValue`.
    ///
    /// `initialValue` runs lazily, once per thread, on that thread, the first
    /// time the thread reads or mutates the value (assigning a value skips it).
    /// It must not read or mutate this same `ThreadLocal` (that recursion has
    /// no end, and stops with a fatal error that says so). If it assigns this
    /// thread's value itself, that value is kept and the closure's result is
    /// released.
    ///
    /// `initialValue` is `@Sendable`: it is stored once and run on every
    /// thread, so it may capture only `Sendable` values. To start each thread
    /// from a non-`Sendable` object, capture a `Sendable` description of it (a
    /// configuration struct, a file name) and build the object inside the
    /// closure; see <doc:ThreadLocalsAndConcurrency#The-initial-value-closure-is-Sendable>.
    public init(_ initialValue: @escaping @Sendable () -> Value) {
        self._initialValue = initialValue
        self._valueIsOptional = _isOptional(Value.self)
        var slot = ctl_slot()
        let status = Int(ctl_slot_create(&slot, Self._destructor, nil))
        if status != CTL_OK { _threadLocalFailure("cannot create a thread-local slot (error \(status))") }
        self._slot = slot
    }

    /// Releases every thread's value, on the calling thread.
    ///
    /// The values of threads that are still running are released here, one
    /// after another, on the thread that drops the last reference to this
    /// `ThreadLocal`. A value that an exiting thread is releasing at the same
    /// moment is released by that thread, possibly after `deinit` returns:
    /// `deinit` never waits for another thread, so it cannot deadlock on a
    /// lock that the caller holds and such a release needs. Joining the
    /// exiting thread waits for it. See <doc:ValueLifetimes>.
    deinit {
        // The releases that `ctl_slot_destroy` makes on this thread are not a
        // thread exit's (see `_ExitState`).
        let status = _ExitState.whileDestroying { Int(ctl_slot_destroy(_slot)) }
        assert(status == CTL_OK, "ThreadLocal: slot destroyed twice")
    }

    /// The C destructor of the slot: releases a box, or nothing for values
    /// stored in the slot word itself.
    internal static var _destructor: ctl_destructor? { _isUnboxed ? nil : _releaseBox }

    /// Whether a value of this type is stored in the slot itself (no box).
    @inlinable
    internal static var _isUnboxed: Bool {
        _isPOD(Value.self) && MemoryLayout<Value>.size <= MemoryLayout<ctl_value>.size
            && MemoryLayout<Value>.alignment <= MemoryLayout<ctl_value>.alignment
    }

    /// The calling thread's value.
    ///
    /// Reading it creates the thread's value first if needed. Assigning
    /// replaces the thread's value (without running the initial-value closure)
    /// and releases the old one. Mutating it (`counter.value += 1`,
    /// `buffer.value[0] = 1`, `list.value.append(x)`) changes the value in
    /// place, without a copy.
    @inlinable
    @available(
        *,
        noasync,
        message:
            "the thread can change at every await; use withCurrentThreadValue for caches, TaskLocal for task context"
    )
    public var value: Value {
        _read {
            let (value, state) = Self._pointers(_wordCreatingValue())
            if let state { _Box<Value>._beginRead(state) }
            // The yielded memory belongs to `self` (the slot's box or word):
            // keep `self` alive until the access ends, also when this is the
            // caller's last use of it.
            defer {
                if let state { state.pointee &-= 1 }
                _fixLifetime(self)
            }
            yield value.pointee
        }
        _modify {
            let (value, state) = Self._pointers(_wordCreatingValue())
            if let state { _Box<Value>._beginWrite(state) }
            defer {
                if let state { state.pointee = 0 }
                _fixLifetime(self)
            }
            yield &value.pointee
        }
        set {
            defer { _fixLifetime(self) }
            guard let word = ctl_value_pointer(_slot) else {
                _store(newValue)
                return
            }
            let (value, state) = Self._pointers(word)
            guard let state else {
                value.pointee = newValue
                return
            }
            _Box<Value>._beginWrite(state)
            // Move the old value out first: its deinit runs after the access
            // ends, so it may use this ThreadLocal. (Not shared with
            // `_exchange(_:)`: returning a `Value?` needs the metadata of
            // `Optional<Value>` in unspecialized code, and a child of fork()
            // that looks it up can block forever on the Swift runtime's lock.)
            let old = value.move()
            value.initialize(to: newValue)
            state.pointee = 0
            _ = consume old
        }
    }

    /// Calls `body` with the calling thread's value, which it can mutate in
    /// place, and returns what `body` returns.
    ///
    /// The value is created first if needed. No copy is made, so this is the
    /// way to append to a per-thread buffer or use a per-thread cache. This
    /// lends the value; it does not bind a new one for a call, as `TaskLocal`'s
    /// `withValue(_:operation:)` does: that is ``withBinding(_:operation:)``.
    ///
    /// In `async` functions, use ``withCurrentThreadValue(_:)`` for caches and
    /// counters, and `TaskLocal` (never a `ThreadLocal`) for task context.
    ///
    /// - Parameter body: A closure that receives this thread's value `inout`.
    ///   It must not access this `ThreadLocal` again: for a value in a box
    ///   (see <doc:ThreadLocal#Which-values-are-stored-without-a-box>) that
    ///   stops the program with a message naming the misuse.
    /// - Returns: What `body` returns.
    /// - Throws: What `body` throws.
    @inlinable
    @available(
        *,
        noasync,
        message:
            "the thread can change at every await; use withCurrentThreadValue for caches, TaskLocal for task context"
    )
    public func withValue<Result, Failure: Error>(
        _ body: (inout Value) throws(Failure) -> Result
    ) throws(Failure) -> Result {
        try body(&value)
    }

    /// Calls `body` with the value of the thread that runs it, which it can
    /// mutate in place, and returns what `body` returns: ``withValue(_:)``
    /// for `async` functions.
    ///
    /// `body` is synchronous, so it runs on one thread from start to end and
    /// sees that thread's value. That is right for a resource whose value
    /// outlives the task (a cache, a scratch buffer, a counter summed later),
    /// and wrong for task context such as a request ID: the next task on the
    /// thread sees what this one stored, and this task may see another's after
    /// its next `await`. Use `TaskLocal` for context. Do not return the value
    /// itself out of `body` to use it after an `await`; see
    /// <doc:ThreadLocalsAndConcurrency>.
    ///
    /// - Parameter body: A synchronous closure that receives the current
    ///   thread's value `inout`, with the same rules as in ``withValue(_:)``.
    /// - Returns: What `body` returns.
    /// - Throws: What `body` throws.
    @inlinable
    public func withCurrentThreadValue<Result, Failure: Error>(
        _ body: (inout Value) throws(Failure) -> Result
    ) throws(Failure) -> Result {
        try body(&value)
    }

    /// Makes `value` the calling thread's value while `operation` runs, then
    /// puts back what the thread had before: its previous value, or no value.
    ///
    /// The scoped binding of synchronous code, as `TaskLocal`'s
    /// `withValue(_:operation:)` is for tasks: nested bindings restore each
    /// other in turn, and the previous state comes back also when `operation`
    /// throws. A thread that had no value has none afterwards (``hasValue`` is
    /// `false` again), and the bound value is released on the way out.
    ///
    /// ```swift
    /// let requestID = ThreadLocal<String?>()
    ///
    /// func run(job: () -> Void, id: String) {
    ///     requestID.withBinding(id) { job() }  // log lines read requestID
    /// }
    /// ```
    ///
    /// Costs two stores into this thread's slot, and for a value in a box
    /// (see <doc:ThreadLocal#Which-values-are-stored-without-a-box>) the box
    /// of `value`; a value stored in the slot itself allocates nothing. The
    /// initial-value closure does not run.
    ///
    /// - Parameters:
    ///   - value: This thread's value while `operation` runs.
    ///   - operation: The code that sees `value`. It may read, mutate, assign,
    ///     reset and bind this `ThreadLocal`; what it leaves there is released
    ///     when the binding ends.
    /// - Returns: What `operation` returns.
    /// - Throws: What `operation` throws, after restoring the previous state.
    ///
    /// Calling it inside ``withValue(_:)`` (or an access to ``value``) of the
    /// same `ThreadLocal` stops the program for a value in a box, as any
    /// assignment there does.
    @inlinable
    @available(
        *,
        noasync,
        message: "the thread can change at every await; use TaskLocal's withValue(_:operation:) for task context"
    )
    public func withBinding<Result, Failure: Error>(
        _ value: Value,
        operation: () throws(Failure) -> Result
    ) throws(Failure) -> Result {
        let previous = _exchange(value)
        defer {
            if let previous {
                _ = _exchange(previous)
            } else {
                _ = _take()
            }
            _fixLifetime(self)
        }
        return try operation()
    }

    /// Not available: `withValue(_:)` lends this thread's value to a closure.
    /// To bind a value for the duration of a call, as `TaskLocal`'s
    /// `withValue(_:operation:)` does, use ``withBinding(_:operation:)``.
    ///
    /// - Parameters:
    ///   - value: Unused.
    ///   - operation: Unused.
    /// - Returns: Never returns.
    @available(
        *,
        unavailable,
        renamed: "withBinding(_:operation:)",
        message:
            "withValue(_:) lends this thread's value to a closure; to bind a value while a call runs, as TaskLocal.withValue(_:operation:) does, use withBinding(_:operation:)"
    )
    public func withValue<Result, Failure: Error>(
        _ value: Value,
        operation: () throws(Failure) -> Result
    ) throws(Failure) -> Result {
        fatalError("unavailable")
    }

    /// Whether the calling thread has a value: it has read, mutated or
    /// assigned one and not reset or taken it since. Never creates a value.
    ///
    /// For an optional, a read of the initial `nil` stores it, so it counts
    /// too: see <doc:ThreadLocal#Optional-values>.
    @inlinable
    @available(
        *,
        noasync,
        message:
            "the thread can change at every await; use withCurrentThreadValue for caches, TaskLocal for task context"
    )
    public var hasValue: Bool {
        ctl_has_value(_slot)
    }

    /// Releases the calling thread's value now. The next access on this thread
    /// runs the initial-value closure again. Does nothing if the thread has no
    /// value; other threads' values are untouched.
    ///
    /// The value's deinitializer runs after it has been removed, so it may
    /// access this `ThreadLocal` again. Calling it inside ``withValue(_:)``
    /// (or an access to ``value``) of the same `ThreadLocal` stops the
    /// program for a value in a box.
    @available(
        *,
        noasync,
        message:
            "the thread can change at every await; use withCurrentThreadValue for caches, TaskLocal for task context"
    )
    @inlinable
    public func reset() {
        if let value = _take() { _ = consume value }
    }

    /// For any value but an `Optional`: removes the calling thread's value
    /// and returns it. The next access on this thread runs the initial-value
    /// closure again.
    ///
    /// Like Rust's `LocalKey::take`. For an `Optional` value, Swift picks
    /// the one-level `take()` instead, and in generic code this one answers
    /// the same: `nil` also when the value was `nil` (see
    /// <doc:ThreadLocal#Optional-values>).
    ///
    /// - Returns: The value, which is not released; `nil` if the thread had
    ///   none.
    ///
    /// Calling it inside ``withValue(_:)`` (or an access to ``value``) of the
    /// same `ThreadLocal` stops the program for a value in a box.
    @_disfavoredOverload
    @available(
        *,
        noasync,
        message:
            "the thread can change at every await; use withCurrentThreadValue for caches, TaskLocal for task context"
    )
    @inlinable
    public func take() -> Value? {
        _flattened(_take())
    }

    /// For any value but an `Optional`: stores `newValue` as the calling
    /// thread's value and returns the value it replaces. The initial-value
    /// closure does not run.
    ///
    /// Like Rust's `LocalKey::replace`. For an `Optional` value, Swift picks
    /// the one-level `exchange(_:)` instead, and in generic code this one
    /// answers the same (see <doc:ThreadLocal#Optional-values>). To bind a
    /// value for a call and then put back what was there, including "no
    /// value", use ``withBinding(_:operation:)``.
    ///
    /// - Parameter newValue: The thread's new value.
    /// - Returns: The previous value, which is not released; `nil` if the
    ///   thread had none.
    ///
    /// Calling it inside ``withValue(_:)`` (or an access to ``value``) of the
    /// same `ThreadLocal` stops the program for a value in a box.
    @_disfavoredOverload
    @available(
        *,
        noasync,
        message:
            "the thread can change at every await; use withCurrentThreadValue for caches, TaskLocal for task context"
    )
    @inlinable
    public func exchange(_ newValue: Value) -> Value? {
        defer { _fixLifetime(self) }
        return _flattened(_exchange(newValue))
    }

    /// For any value but an `Optional`: the calling thread's value if it has
    /// one, without creating it.
    ///
    /// Like swift-nio's `ThreadSpecificVariable.currentValue`. For an
    /// `Optional` value, Swift picks the one-level `valueIfPresent` instead,
    /// and in generic code this one answers the same: `nil` also when the
    /// value is `nil` (see <doc:ThreadLocal#Optional-values>).
    @inlinable
    @_disfavoredOverload
    @available(
        *,
        noasync,
        message:
            "the thread can change at every await; use withCurrentThreadValue for caches, TaskLocal for task context"
    )
    public var valueIfPresent: Value? {
        _flattened(_valueIfPresent())
    }

    /// The calling thread's value, or nil if it has none; never creates it.
    /// The one body of both `valueIfPresent` properties.
    @inlinable
    internal func _valueIfPresent() -> Value? {
        guard let word = ctl_value_pointer(_slot) else { return nil }
        let (value, state) = Self._pointers(word)
        if let state { _Box<Value>._beginRead(state) }
        defer {
            if let state { state.pointee &-= 1 }
            _fixLifetime(self)
        }
        return value.pointee
    }

    /// Removes the calling thread's value and returns it, or nil if it has
    /// none (both levels kept, for the restore of `withBinding`).
    /// Inlinable, so that it is specialised for the caller's `Value`: for a
    /// value stored in the slot itself it is the C call and a few moves.
    @inlinable
    internal func _take() -> Value? {
        defer { _fixLifetime(self) }
        guard let word = ctl_value_pointer(_slot) else { return nil }
        if let state = Self._pointers(word).state, state.pointee != 0 {
            _threadLocalFailure(
                "ThreadLocal<\(Value.self)>: reset() or take() was called while this thread's value is being accessed (inside withValue or an access to value)"
            )
        }
        var taken = ctl_value()
        guard ctl_take(_slot, &taken) else { return nil }
        return Self._decode(taken)
    }

    /// The one rule for optionals: "the value, if any" is `nil` both when
    /// there is no value and when the value is `nil`. The concrete overloads
    /// for `Optional` values drop a level; this gives generic code over an
    /// unconstrained `Value` the same answer. Other types pay a load and a
    /// branch (`_valueIsOptional`).
    @inlinable
    @inline(__always)
    internal func _flattened(_ value: Value?) -> Value? {
        if _valueIsOptional, let value, let optional = Value.self as? any _NilTestable.Type,
            withUnsafePointer(to: value, { optional._isNil($0) })
        {
            return nil
        }
        return value
    }

    /// Reads or writes a property of the calling thread's value, as in Python's
    /// `data.v = name`.
    ///
    /// Costs what ``value`` costs: it reads or mutates this thread's value in
    /// place, creating it first if needed.
    ///
    /// - Parameter keyPath: The property of the value.
    /// - Returns: The property of this thread's value.
    @inlinable
    @available(
        *,
        noasync,
        message:
            "the thread can change at every await; use withCurrentThreadValue for caches, TaskLocal for task context"
    )
    public subscript<Property>(dynamicMember keyPath: WritableKeyPath<Value, Property>) -> Property {
        get { value[keyPath: keyPath] }
        set { value[keyPath: keyPath] = newValue }
    }

    /// Reads a property of the calling thread's value.
    ///
    /// - Parameter keyPath: The property of the value.
    /// - Returns: The property of this thread's value, which is created first
    ///   if needed.
    @inlinable
    @available(
        *,
        noasync,
        message:
            "the thread can change at every await; use withCurrentThreadValue for caches, TaskLocal for task context"
    )
    public subscript<Property>(dynamicMember keyPath: KeyPath<Value, Property>) -> Property {
        value[keyPath: keyPath]
    }

    // MARK: - Storage

    /// The calling thread's slot word, creating the value first if needed.
    /// Accessors do no work after their access ends, which keeps them small
    /// enough to inline.
    @inlinable
    @inline(__always)
    internal func _wordCreatingValue() -> UnsafeMutablePointer<ctl_value> {
        if let word = ctl_value_pointer(_slot) {
            return word
        }
        return _initialize()
    }

    /// Typed pointers into a slot word: to the value, and for boxed values to
    /// the box's access state.
    ///
    /// Invariant: `word` is this thread's word of `_slot` and holds a value
    /// stored by `_encode`; the pointers are valid while `self` is alive and
    /// the value is not removed from the slot, which only `take()`/`reset()`,
    /// slot destruction (`deinit`) and thread exit do.
    @inlinable
    @inline(__always)
    internal static func _pointers(
        _ word: UnsafeMutablePointer<ctl_value>
    ) -> (value: UnsafeMutablePointer<Value>, state: UnsafeMutablePointer<Int>?) {
        if _isUnboxed {
            // The word is raw storage that only this ThreadLocal reads as a
            // `Value` (C copies it only as bits), so binding it is sound.
            return (UnsafeMutableRawPointer(word).bindMemory(to: Value.self, capacity: 1), nil)
        }
        let box = _Box<Value>._pointers(word.pointee.ptr.unsafelyUnwrapped)
        return (box.value, box.state)
    }

    /// A slot word holding `value`: its bits, or a +1 reference to a new box.
    @inlinable
    internal static func _encode(_ value: Value) -> ctl_value {
        var word = ctl_value()
        if _isUnboxed {
            withUnsafeMutableBytes(of: &word) { $0.storeBytes(of: value, as: Value.self) }
        } else {
            word.ptr = _Box<Value>._make(value)
        }
        return word
    }

    /// The value in a word made by `_encode` that was removed from its slot;
    /// consumes the word (releases its box).
    @inlinable
    internal static func _decode(_ word: ctl_value) -> Value {
        if _isUnboxed {
            return withUnsafeBytes(of: word) { $0.load(as: Value.self) }
        }
        return _Box<Value>._take(word)
    }

    /// Destroys a word made by `_encode` that is not (or no longer) in a slot.
    @inlinable
    internal static func _destroy(_ word: ctl_value) {
        if !_isUnboxed {
            _Box<Value>._release(word)
        }
    }

    @usableFromInline
    @inline(never)
    internal func _initialize() -> UnsafeMutablePointer<ctl_value> {
        switch Int(ctl_begin_initialization(_slot)) {
        case CTL_OK:
            let atExit = !Self._isUnboxed && _ExitState.isReleasingAtExit
            if atExit && _ExitState.isReleasingValueCreatedAtExit {
                _threadLocalFailure(
                    "ThreadLocal<\(Value.self)>: a deinit run at this thread's exit, of a value itself created during the exit, created a value again; that would repeat at every exit sweep. In a deinit, read thread-locals with valueIfPresent, which never creates a value (see \"When values are released\")"
                )
            }
            let word = Self._encode(_initialValue())
            if atExit { _Box<Value>._markCreatedAtExit(word) }
            if ctl_finish_initialization(_slot, word) {
                return ctl_value_pointer(_slot).unsafelyUnwrapped
            }
            // The initial-value closure assigned this thread's value itself:
            // that value stays, and the computed one is released.
            Self._destroy(word)
            guard let existing = ctl_value_pointer(_slot) else {
                _threadLocalFailure(
                    "ThreadLocal<\(Value.self)>: this thread's value vanished during its initialization"
                )
            }
            return existing
        case CTL_EEXIST:
            return ctl_value_pointer(_slot).unsafelyUnwrapped
        case CTL_EBUSY:
            _threadLocalFailure(
                "ThreadLocal<\(Value.self)>: the initial-value closure accessed the same ThreadLocal on the same thread; that recursion would never end"
            )
        case let status:
            // CTL_ENOMEM (CTL_EINVAL cannot happen: the slot lives as long as
            // `self`).
            _threadLocalFailure("ThreadLocal<\(Value.self)>: cannot store this thread's value (error \(status))")
        }
    }

    /// Stores `newValue` as the calling thread's value and returns the value it
    /// replaces, if any: the body of `exchange(_:)`. The old value is moved
    /// out, not released here: its deinit runs after the access ends, in the
    /// caller, so it may use this ThreadLocal.
    @inlinable
    @inline(__always)
    internal func _exchange(_ newValue: Value) -> Value? {
        guard let word = ctl_value_pointer(_slot) else {
            _store(newValue)
            return nil
        }
        let (value, state) = Self._pointers(word)
        if let state { _Box<Value>._beginWrite(state) }
        let old = value.move()
        value.initialize(to: newValue)
        if let state { state.pointee = 0 }
        return old
    }

    /// Stores `newValue` as the calling thread's value when the thread has
    /// none. Specialised for the caller's `Value` (inlinable), but kept out of
    /// line so that the inlined setter stays small.
    @inlinable
    @inline(never)
    internal func _store(_ newValue: Value) {
        let word = Self._encode(newValue)
        // The thread has no value in the slot (the caller checked): straight
        // to the C store's path for an empty entry.
        if !ctl__set_slow(_slot, word) {
            Self._destroy(word)
            _threadLocalFailure("ThreadLocal<\(Value.self)>: out of memory for this thread's storage")
        }
    }
}

/// Stops the process with `message`, in every build configuration
/// (`precondition` drops its message under `-O`). The message is built only
/// on this failure path.
@usableFromInline
@inline(never)
internal func _threadLocalFailure(_ message: @autoclosure () -> String) -> Never {
    fatalError(message())
}

extension ThreadLocal: @unchecked Sendable where Value: Sendable {
    // Sendable: every thread reads and writes only its own value; the slot
    // handle and the closure are immutable and Sendable themselves. Values
    // cross threads only when the last reference is dropped (`deinit`
    // releases every thread's value on the calling thread), which a Sendable
    // value allows.
}

/// The heap box of a value that is not stored in the slot itself: a
/// `ManagedBuffer` whose header is the access state and whose one element is
/// the value, so that both are reached through plain pointers, with no retain
/// and no dynamic exclusivity check.
///
/// The slot holds one strong reference to the box (made by `_make`). It is
/// released by `_take` on `take()`/`reset()`, and by the C destructor at
/// thread exit and on slot destruction; nowhere else.
///
/// The access state is 0 when idle, the number of reads in progress when
/// positive, and -1 during a write. Only the owning thread touches it. It
/// turns an overlapping access from that thread (which could free the value
/// under an access in progress) into a fatal error.
@usableFromInline
internal final class _Box<Value>: ManagedBuffer<_BoxHeader, Value> {
    deinit {
        _ = withUnsafeMutablePointerToElements { $0.move() }
    }

    /// A new box holding `value`, as a +1 reference for a slot word.
    @usableFromInline
    internal static func _make(_ value: Value) -> UnsafeMutableRawPointer {
        let box = unsafeDowncast(
            create(minimumCapacity: 1) { _ in _BoxHeader(state: 0, createdAtExit: false) },
            to: _Box<Value>.self
        )
        box.withUnsafeMutablePointerToElements { $0.initialize(to: value) }
        return Unmanaged.passRetained(box).toOpaque()
    }

    /// Pointers to the value and the access state of the box `object`.
    ///
    /// Invariant: `object` came from `_make` and the slot still holds it, so
    /// the box outlives the pointers as long as the value is not removed from
    /// the slot. The box is borrowed, not retained.
    @inlinable
    @inline(__always)
    internal static func _pointers(
        _ object: UnsafeMutableRawPointer
    ) -> (value: UnsafeMutablePointer<Value>, state: UnsafeMutablePointer<Int>) {
        Unmanaged<_Box<Value>>.fromOpaque(object)._withUnsafeGuaranteedRef { box in
            box.withUnsafeMutablePointers { header, value in
                (value: value, state: _BoxHeader._state(header))
            }
        }
    }

    /// Marks the box of `word` (made by `_make`) as created during its
    /// thread's exit.
    internal static func _markCreatedAtExit(_ word: ctl_value) {
        Unmanaged<_Box<Value>>.fromOpaque(word.ptr.unsafelyUnwrapped)._withUnsafeGuaranteedRef {
            $0.header.createdAtExit = true
        }
    }

    /// The value of a box that was removed from the slot; releases the slot's
    /// reference to the box.
    @usableFromInline
    internal static func _take(_ word: ctl_value) -> Value {
        let box = Unmanaged<_Box<Value>>.fromOpaque(word.ptr.unsafelyUnwrapped).takeRetainedValue()
        return box.withUnsafeMutablePointerToElements { $0.pointee }
    }

    /// Releases the slot's reference to a box that was removed from the slot.
    @usableFromInline
    internal static func _release(_ word: ctl_value) {
        Unmanaged<_Box<Value>>.fromOpaque(word.ptr.unsafelyUnwrapped).release()
    }

    @inlinable
    @inline(__always)
    internal static func _beginRead(_ state: UnsafeMutablePointer<Int>) {
        if _slowPath(state.pointee < 0) {
            _threadLocalFailure(
                "ThreadLocal<\(Value.self)>: the value was read while this thread was mutating it (inside withValue or a mutation of value)"
            )
        }
        state.pointee &+= 1
    }

    @inlinable
    @inline(__always)
    internal static func _beginWrite(_ state: UnsafeMutablePointer<Int>) {
        if _slowPath(state.pointee != 0) {
            _threadLocalFailure(
                "ThreadLocal<\(Value.self)>: the value was assigned or mutated while this thread was already accessing it (inside withValue or an access to value)"
            )
        }
        state.pointee = -1
    }
}

/// The header of a `_Box`: the access state, and whether the box was made by
/// an initial-value closure during its thread's exit (see `_ExitState`).
@usableFromInline
internal struct _BoxHeader {
    @usableFromInline
    internal var state: Int
    @usableFromInline
    internal var createdAtExit: Bool

    @usableFromInline
    internal init(state: Int, createdAtExit: Bool) {
        self.state = state
        self.createdAtExit = createdAtExit
    }

    /// A pointer to the `state` field of `header` (at offset 0, so reaching
    /// it costs nothing).
    @inlinable
    @inline(__always)
    internal static func _state(_ header: UnsafeMutablePointer<_BoxHeader>) -> UnsafeMutablePointer<Int> {
        (UnsafeMutableRawPointer(header) + MemoryLayout<_BoxHeader>.offset(of: \.state).unsafelyUnwrapped)
            .assumingMemoryBound(to: Int.self)
    }
}

/// The C destructor of boxed slots: releases the slot's reference to the box.
/// Invariant: a boxed slot only ever holds words made by `_Box._make`.
/// Releasing through `AnyObject` needs no knowledge of `Value`: the box's own
/// metadata finds its deinit, and the header's offset does not depend on
/// `Value`, so reading it needs no metadata either (which keeps a child of
/// `fork()` off the runtime's locks).
private let _releaseBox: ctl_destructor = { word, _ in
    let object = word.ptr.unsafelyUnwrapped
    _ExitState.release(
        createdAtExit: ManagedBufferPointer<_BoxHeader, UInt8>(
            unsafeBufferObject: Unmanaged<AnyObject>.fromOpaque(object).takeUnretainedValue()
        ).header.createdAtExit
    ) {
        Unmanaged<AnyObject>.fromOpaque(object).release()
    }
}

/// What this thread is doing with values at its exit, for deinits that read
/// thread-locals then (item "Thread exit" of `ValueLifetimes.md`).
///
/// The store calls `_releaseBox` at a thread's exit, and on the destroying
/// thread during `ctl_slot_destroy`; `ThreadLocal.deinit` counts the latter,
/// so a call outside it is a thread exit. A value that an initial-value
/// closure creates inside such a call is marked (`_BoxHeader.createdAtExit`);
/// if the release of a marked value creates a value again, the chain would
/// go on at every exit sweep (a deinit that reads its own `ThreadLocal`), and
/// `_initialize` stops the program instead.
///
/// Kept per thread in a slot of its own with no destructor: one word of three
/// 16-bit counters (destroys, exit releases, exit releases of marked
/// values). Each change is undone when its call returns.
internal enum _ExitState {
    private static let slot: ctl_slot = {
        var slot = ctl_slot()
        let status = Int(ctl_slot_create(&slot, nil, nil))
        if status != CTL_OK { _threadLocalFailure("cannot create a thread-local slot (error \(status))") }
        return slot
    }()

    private static let destroying: UInt64 = 1
    private static let releasing: UInt64 = 1 << 16
    private static let releasingMarked: UInt64 = 1 << 32

    private static var word: UInt64 { ctl_get_u64(slot) }

    /// Runs `body` with `change` added to this thread's word, then restores it.
    private static func with<R>(_ change: UInt64, _ body: () -> R) -> R {
        let had = ctl_has_value(slot)
        let old = word
        if !ctl_set_u64(slot, old &+ change) {
            _threadLocalFailure("ThreadLocal: out of memory for this thread's storage")
        }
        defer {
            if had { _ = ctl_set_u64(slot, old) } else { _ = ctl_take(slot, nil) }
        }
        return body()
    }

    /// Runs `body`, a `ctl_slot_destroy` of a `ThreadLocal`.
    static func whileDestroying<R>(_ body: () -> R) -> R {
        with(destroying, body)
    }

    /// Runs `release`, the release of a box by the store.
    static func release(createdAtExit: Bool, _ release: () -> Void) {
        if word & 0xffff != 0 {
            release()  // a slot's destroy, not a thread exit
            return
        }
        with(releasing &+ (createdAtExit ? releasingMarked : 0), release)
    }

    /// Whether the store is releasing one of this thread's values at its exit.
    static var isReleasingAtExit: Bool {
        let word = self.word
        return word & 0xffff == 0 && word & 0xffff_0000 != 0
    }

    /// Whether that value was created during the exit.
    static var isReleasingValueCreatedAtExit: Bool { word & 0xffff_0000_0000 != 0 }
}

extension ThreadLocal {
    /// Creates a thread-local optional whose value starts as `nil` on every
    /// thread.
    ///
    /// ```swift
    /// let requestID = ThreadLocal<String?>()
    /// ```
    ///
    /// A thread's first read stores the `nil`, as for any initial value: see
    /// <doc:ThreadLocal#Optional-values>.
    public convenience init<Wrapped>() where Value == Wrapped? {
        self.init { nil }
    }
}

extension ThreadLocal {
    /// Not available: a `ThreadLocal` of a value that is not optional needs
    /// the closure that makes each thread's value, as in
    /// `ThreadLocal<[Int]> { [] }`.
    @available(
        *,
        unavailable,
        message:
            "a ThreadLocal of a non-optional value needs a closure that makes each thread's value, as in ThreadLocal<[Int]> { [] }; only ThreadLocal<T?>() starts without one, as nil"
    )
    public convenience init() {
        fatalError("unavailable")
    }

    /// Not available: pass a closure that makes each thread's value, as in
    /// `ThreadLocal { 0 }`, so that each thread gets its own.
    ///
    /// - Parameter value: Unused.
    @available(
        *,
        unavailable,
        message: "pass a closure that makes each thread's value, as in ThreadLocal { 0 }: it runs once on each thread"
    )
    @_disfavoredOverload
    public convenience init(_ value: Value) {
        fatalError("unavailable")
    }
}

/// `Optional`, and no other type: the values whose `ThreadLocal` has the
/// one-level `valueIfPresent`, `take()` and `exchange(_:)`.
///
/// Not for other types to adopt: a type that does gets `nil` for "no value",
/// which then cannot be told from its own `nil`.
public protocol _OptionalValue: ExpressibleByNilLiteral {}

extension Optional: _OptionalValue {}

/// `Optional`, for `ThreadLocal`'s generic accessors: whether a value is `nil`.
@usableFromInline
internal protocol _NilTestable {
    static func _isNil(_ value: UnsafeRawPointer) -> Bool
}

extension Optional: _NilTestable {
    @usableFromInline
    internal static func _isNil(_ value: UnsafeRawPointer) -> Bool {
        switch value.assumingMemoryBound(to: Self.self).pointee {
        case .none: true
        case .some: false
        }
    }
}

extension ThreadLocal where Value: _OptionalValue {
    /// For an `Optional` value: the calling thread's value if it has one and
    /// it is not `nil`, without creating it.
    ///
    /// ```swift
    /// let requestID = ThreadLocal<String?>()
    /// if let id = requestID.valueIfPresent { print(id) }  // id is a String
    /// ```
    ///
    /// `nil` both when the thread has no value and when its value is `nil`;
    /// ``hasValue`` tells the two apart. Generic code gets the same answer:
    /// <doc:ThreadLocal#Optional-values>.
    @inlinable
    @available(
        *,
        noasync,
        message:
            "the thread can change at every await; use withCurrentThreadValue for caches, TaskLocal for task context"
    )
    public var valueIfPresent: Value {
        _valueIfPresent() ?? nil
    }

    /// For an `Optional` value: removes the calling thread's value and
    /// returns it. The next access on this thread runs the initial-value
    /// closure again.
    ///
    /// - Returns: The value, which is not released; `nil` both when the thread
    ///   had no value and when its value was `nil`.
    ///
    /// Calling it inside ``withValue(_:)`` (or an access to ``value``) of the
    /// same `ThreadLocal` stops the program.
    @available(
        *,
        noasync,
        message:
            "the thread can change at every await; use withCurrentThreadValue for caches, TaskLocal for task context"
    )
    public func take() -> Value {
        _take() ?? nil
    }

    /// For an `Optional` value: stores `newValue` as the calling thread's
    /// value and returns the value it replaces. The initial-value closure does
    /// not run.
    ///
    /// ```swift
    /// let previous = requestID.exchange("req-2")  // a String?
    /// ```
    ///
    /// - Parameter newValue: The thread's new value.
    /// - Returns: The previous value, which is not released; `nil` both when
    ///   the thread had no value and when its value was `nil`. To put back
    ///   "no value" as no value, use ``withBinding(_:operation:)``.
    ///
    /// Calling it inside ``withValue(_:)`` (or an access to ``value``) of the
    /// same `ThreadLocal` stops the program.
    @available(
        *,
        noasync,
        message:
            "the thread can change at every await; use withCurrentThreadValue for caches, TaskLocal for task context"
    )
    public func exchange(_ newValue: Value) -> Value {
        defer { _fixLifetime(self) }
        return _exchange(newValue) ?? nil
    }
}
