#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// A value and the `pthread_mutex_t` that guards it, together on their own
/// padded block (see `_allocatePadded(byteCount:)`), reached through a pointer:
/// no retain, no exclusivity check, and the mutex never moves.
///
/// A pthread mutex rather than `Synchronization.Mutex`: on Linux, `Mutex`
/// hands a contended lock over inside the kernel (a priority-inheritance
/// futex), where ThreadSanitizer cannot see it, so every contended use is
/// reported as a data race. ThreadSanitizer intercepts pthread mutexes.
///
/// Invariant: `raw` came from `allocate(_:)` and `deallocate()` has not been
/// called; the owner calls `deallocate()` once, when no thread can reach the
/// storage any more.
@usableFromInline
internal struct _LockedStorage<Value: Sendable>: @unchecked Sendable {
    // Sendable: the value is only ever accessed with the mutex held, and it
    // is Sendable itself, so what `withLock` hands out may cross threads.
    @usableFromInline
    internal let raw: UnsafeMutableRawPointer

    @inlinable
    internal init(raw: UnsafeMutableRawPointer) {
        self.raw = raw
    }

    /// Where the value starts: after the mutex, aligned for `Value`.
    @inlinable
    internal static var _valueOffset: Int {
        let alignment = MemoryLayout<Value>.alignment
        return (MemoryLayout<pthread_mutex_t>.size + alignment - 1) / alignment * alignment
    }

    @inlinable
    internal var _mutex: UnsafeMutablePointer<pthread_mutex_t> {
        raw.assumingMemoryBound(to: pthread_mutex_t.self)
    }

    @inlinable
    internal var _value: UnsafeMutablePointer<Value> {
        (raw + Self._valueOffset).assumingMemoryBound(to: Value.self)
    }

    /// New storage holding `initial`.
    internal static func allocate(_ initial: Value) -> Self {
        let raw = _allocatePadded(byteCount: _valueOffset + MemoryLayout<Value>.size)
        let mutex = raw.bindMemory(to: pthread_mutex_t.self, capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        let status = pthread_mutex_init(mutex, nil)
        precondition(status == 0, "pthread_mutex_init failed: \(status)")
        (raw + _valueOffset).bindMemory(to: Value.self, capacity: 1).initialize(to: initial)
        return Self(raw: raw)
    }

    /// Destroys the value and the mutex and frees the storage.
    internal func deallocate() {
        _value.deinitialize(count: 1)
        pthread_mutex_destroy(_mutex)
        raw.deallocate()
    }

    /// Calls `body` with the value, the mutex held.
    @inlinable
    internal func withLock<Result, Failure: Error>(
        _ body: (inout Value) throws(Failure) -> Result
    ) throws(Failure) -> Result {
        pthread_mutex_lock(_mutex)
        defer { pthread_mutex_unlock(_mutex) }
        return try body(&_value.pointee)
    }

    // MARK: Explicit locking, for the fork handlers, which hold the mutex
    // from the prepare handler to the parent or child handler.

    /// Locks the mutex if it is free; returns whether it did.
    internal func tryLock() -> Bool {
        pthread_mutex_trylock(_mutex) == 0
    }

    internal func lock() {
        pthread_mutex_lock(_mutex)
    }

    internal func unlock() {
        pthread_mutex_unlock(_mutex)
    }

    /// Calls `body` with the value. The caller holds the mutex.
    internal func withLockHeld<Result>(_ body: (inout Value) -> Result) -> Result {
        body(&_value.pointee)
    }
}
