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
/// - Overlapping accesses on one thread, and every other misuse: <doc:Verification#Misuse-and-its-outcome>.
@dynamicMemberLookup
public final class ThreadLocal<Value> {

    /// The C slot. Invariant: live for the lifetime of `self` (created in
    /// `init`, destroyed only in `deinit`).
    @usableFromInline
    internal let _slot: ctl_slot

    @usableFromInline
    internal let _initialValue: @Sendable () -> Value

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
        let status = Int(ctl_slot_destroy(_slot))
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
    /// way to append to a per-thread buffer or use a per-thread cache.
    ///
    /// In `async` functions, use ``withCurrentThreadValue(_:)`` for caches and
    /// counters, and `TaskLocal` (never a `ThreadLocal`) for task context.
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
    @inlinable
    public func withCurrentThreadValue<Result, Failure: Error>(
        _ body: (inout Value) throws(Failure) -> Result
    ) throws(Failure) -> Result {
        try body(&value)
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
    /// access this `ThreadLocal` again.
    @available(
        *,
        noasync,
        message:
            "the thread can change at every await; use withCurrentThreadValue for caches, TaskLocal for task context"
    )
    public func reset() {
        if let value = take() { _ = consume value }
    }

    /// Removes the calling thread's value and returns it, or returns `nil` if
    /// the thread has none. The value is not released; the next access on
    /// this thread runs the initial-value closure again.
    ///
    /// Like Rust's `LocalKey::take`.
    @available(
        *,
        noasync,
        message:
            "the thread can change at every await; use withCurrentThreadValue for caches, TaskLocal for task context"
    )
    public func take() -> Value? {
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

    /// Stores `newValue` as the calling thread's value and returns the value
    /// it replaces, or `nil` if the thread had none. The initial-value
    /// closure does not run.
    ///
    /// Like Rust's `LocalKey::replace`.
    @available(
        *,
        noasync,
        message:
            "the thread can change at every await; use withCurrentThreadValue for caches, TaskLocal for task context"
    )
    public func exchange(_ newValue: Value) -> Value? {
        defer { _fixLifetime(self) }
        return _exchange(newValue)
    }

    /// The calling thread's value if it has one, without creating it.
    ///
    /// Like swift-nio's `ThreadSpecificVariable.currentValue`. For an
    /// `Optional` value, Swift picks ``valueIfPresent-49xtd``, one optional,
    /// instead (this one only in generic code over an unconstrained `Value`);
    /// see <doc:ThreadLocal#Optional-values>.
    @inlinable
    @_disfavoredOverload
    @available(
        *,
        noasync,
        message:
            "the thread can change at every await; use withCurrentThreadValue for caches, TaskLocal for task context"
    )
    public var valueIfPresent: Value? {
        _valueIfPresent()
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

    /// Reads or writes a property of the calling thread's value, as in Python's
    /// `data.v = name`.
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
    @usableFromInline
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
    @usableFromInline
    internal static func _decode(_ word: ctl_value) -> Value {
        if _isUnboxed {
            return withUnsafeBytes(of: word) { $0.load(as: Value.self) }
        }
        return _Box<Value>._take(word)
    }

    /// Destroys a word made by `_encode` that is not (or no longer) in a slot.
    @usableFromInline
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
            let word = Self._encode(_initialValue())
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
    /// none.
    @usableFromInline
    @inline(never)
    internal func _store(_ newValue: Value) {
        let word = Self._encode(newValue)
        if !ctl_set(_slot, word) {
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
internal final class _Box<Value>: ManagedBuffer<Int, Value> {
    deinit {
        _ = withUnsafeMutablePointerToElements { $0.move() }
    }

    /// A new box holding `value`, as a +1 reference for a slot word.
    @usableFromInline
    internal static func _make(_ value: Value) -> UnsafeMutableRawPointer {
        let box = unsafeDowncast(create(minimumCapacity: 1) { _ in 0 }, to: _Box<Value>.self)
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
            box.withUnsafeMutablePointers { (value: $1, state: $0) }
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

/// The C destructor of boxed slots: releases the slot's reference to the box.
/// Invariant: a boxed slot only ever holds words made by `_Box._make`.
/// Releasing through `AnyObject` needs no knowledge of `Value`: the box's own
/// metadata finds its deinit.
private let _releaseBox: ctl_destructor = { word, _ in
    Unmanaged<AnyObject>.fromOpaque(word.ptr.unsafelyUnwrapped).release()
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

/// `Optional`, and no other type: the values whose `ThreadLocal` has the
/// one-level ``ThreadLocal/valueIfPresent-49xtd``.
///
/// Not for other types to adopt: a type that does gets `nil` for "no value",
/// which then cannot be told from its own `nil`.
public protocol _OptionalValue: ExpressibleByNilLiteral {}

extension Optional: _OptionalValue {}

extension ThreadLocal where Value: _OptionalValue {
    /// The calling thread's value if it has one and it is not `nil`, without
    /// creating it: `nil` both when the thread has no value and when its
    /// value is `nil`.
    ///
    /// ```swift
    /// let requestID = ThreadLocal<String?>()
    /// if let id = requestID.valueIfPresent { print(id) }  // id is a String
    /// ```
    ///
    /// ``hasValue`` tells the two `nil`s apart. Which overload applies:
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
}
