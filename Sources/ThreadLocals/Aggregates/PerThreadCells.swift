// SPDX-License-Identifier: Apache-2.0
public import CThreadLocals

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

// The engine of ThreadLocalCounter, ThreadLocalAccumulator and
// TrackedThreadLocal. Each aggregate has one slot of the store, and a
// thread's word in it holds that thread's cell. From the top: what a cell type
// provides, the registry of live cells with a thread's first access and the
// fold when its thread exits, the readers' lock, and the locked storage.
// The design and its terms: <doc:HowItWorks#The-per-thread-aggregates>.

// MARK: - Cells

/// What an aggregate's cell type gives the engine; each conformance is
/// written next to its aggregate.
///
/// A cell is one thread's part of an aggregate, reached through the pointer
/// that the thread's slot word holds. The word owns the cell until the cell is
/// retired: when its thread exits, when the aggregate goes away, or when a
/// `TrackedThreadLocal` is reset on that thread.
@usableFromInline
internal protocol _PerThreadCell {
    /// What the cells of exited threads are folded into.
    associatedtype Total: Sendable
    /// What making and folding a cell need from the aggregate: its closures.
    associatedtype Setup: Sendable
    /// The aggregate's type, for messages.
    static var aggregate: Any.Type { get }
    /// A new cell for the calling thread. May run user code.
    static func make(_ setup: Setup) -> UnsafeMutableRawPointer
    /// Adds `cell` into `total`. Runs with the registry locked.
    static func fold(_ cell: UnsafeMutableRawPointer, into total: inout Total, _ setup: Setup)
    /// Frees `cell` once it is folded and out of the registry. Runs with no
    /// lock held, so a deinit that it runs may use the aggregate.
    static func free(_ cell: UnsafeMutableRawPointer)
}

// MARK: - The registry

/// An aggregate's live cells, and the total that exited threads' cells were
/// folded into, under one mutex.
///
/// Every change of which cells are live, and every read of the cells with the
/// total, takes the mutex once: a reader sees each thread's cell either live
/// or folded into the total, never both and never neither.
///
/// Each live cell holds a reference to its registry, taken when the cell is
/// registered and dropped when it is retired: a thread may exit, and retire its
/// cell, after the aggregate went away (the store calls the slot's destructor
/// on the exiting thread, possibly after `ctl_slot_destroy` returned).
@usableFromInline
internal final class _PerThreadCells<Cell: _PerThreadCell>: _CellRetirement, @unchecked Sendable {
    // Sendable: `state` is only accessed with its mutex held; `setup` is
    // Sendable.

    @usableFromInline
    internal struct State: Sendable {
        /// The live cells, by address, with the number of threads whose cell
        /// each is: 1, except for a `TrackedThreadLocal` object that several
        /// threads' initial-value closures returned.
        var live: [UInt: Int] = [:]
        var total: Cell.Total
    }

    @usableFromInline
    internal let setup: Cell.Setup
    private let state: _LockedStorage<State>

    init(total: Cell.Total, setup: Cell.Setup) {
        self.setup = setup
        self.state = .allocate(State(total: total), errorChecking: true)
    }

    deinit {
        state.deallocate()
    }

    /// A new slot, whose destructor retires the cells it holds into `self`.
    func makeSlot() -> ctl_slot {
        var slot = ctl_slot()
        let status = Int(ctl_slot_create(&slot, _retireCell, Unmanaged.passUnretained(self).toOpaque()))
        if status != CTL_OK {
            _aggregateFailure("\(Cell.aggregate): cannot create a thread-local slot (error \(status))")
        }
        return slot
    }

    /// Makes and registers the calling thread's cell, and returns the
    /// thread's slot word, which holds it: the first access's slow path.
    ///
    /// `file` and `line` are the public caller's, for the messages of misuse.
    @usableFromInline
    @inline(never)
    internal func registerCell(
        _ slot: ctl_slot,
        file: StaticString = #fileID,
        line: UInt = #line
    ) -> UnsafeMutablePointer<ctl_value> {
        switch Int(ctl_begin_initialization(slot)) {
        case CTL_OK: break
        case CTL_EBUSY:
            let kind = String(describing: Cell.aggregate).prefix { $0 != "<" }
            _aggregateFailure(
                "\(Cell.aggregate): the initial-value closure accessed the same \(kind) on the same thread; that recursion would never end",
                file: file,
                line: line
            )
        case let status:
            // CTL_ENOMEM (the slot is live while the aggregate is, and this
            // thread has no value in it).
            _aggregateFailure("\(Cell.aggregate): cannot store this thread's cell (error \(status))")
        }
        let cell = Cell.make(setup)  // may use the store, and other aggregates
        _ = Unmanaged.passRetained(self)  // the cell's reference, dropped by `retire`
        withState(file: file, line: line) { $0.live[UInt(bitPattern: cell), default: 0] += 1 }
        // Only this function stores into the slot, and a nested call on this
        // thread stopped above: the mark is still set.
        guard ctl_finish_initialization(slot, ctl_value(ptr: cell)) else {
            _aggregateFailure("\(Cell.aggregate): this thread's cell was stored twice")
        }
        return ctl_value_pointer(slot).unsafelyUnwrapped
    }

    /// Folds `cell` into the total and removes it from the live cells, in one
    /// critical section, then frees it. Its thread no longer holds it.
    override func retire(_ cell: UnsafeMutableRawPointer) {
        withState { state in
            let key = UInt(bitPattern: cell)
            guard let threads = state.live[key] else {
                _aggregateFailure("\(Cell.aggregate): a cell was retired twice")
            }
            state.live[key] = threads > 1 ? threads - 1 : nil
            Cell.fold(cell, into: &state.total, setup)
        }
        Cell.free(cell)
    }

    /// Takes the calling thread's cell out of `slot` and retires it, as the
    /// thread's exit would; does nothing if the thread has none.
    func retireOwnCell(_ slot: ctl_slot) {
        var word = ctl_value()
        guard ctl_take(slot, &word) else { return }
        retire(word.ptr.unsafelyUnwrapped)
        Unmanaged.passUnretained(self).release()  // the cell's reference
    }

    // MARK: Readers

    /// Calls `body` with the live cells and the total, the mutex held.
    ///
    /// The mutex is not recursive: a thread that already holds it (a `merge`
    /// closure that uses its own accumulator) stops with a message that names
    /// `file` and `line`, instead of waiting for itself forever.
    @usableFromInline
    internal func withState<Result>(
        file: StaticString = #fileID,
        line: UInt = #line,
        _ body: (inout State) -> Result
    ) -> Result {
        state.withLock(
            orStop: "was used inside its own merge or initial-value closure, which runs with it locked",
            of: Cell.aggregate,
            file: file,
            line: line,
            body
        )
    }

    /// The total with every live cell folded into it.
    func foldedTotal() -> Cell.Total {
        withState { state in
            var result = state.total
            for (cell, threads) in state.live {
                for _ in 0..<threads { Cell.fold(UnsafeMutableRawPointer(bitPattern: cell)!, into: &result, setup) }
            }
            return result
        }
    }

    /// The number of threads that hold a live cell.
    var threadCount: Int {
        withState { $0.live.values.reduce(0, +) }
    }
}

/// The registry as the slot destructor sees it: one C function serves every
/// aggregate, and reaches the registry's generic code through this method.
@usableFromInline
internal class _CellRetirement {
    /// Folds and frees a cell whose thread no longer holds it.
    func retire(_ cell: UnsafeMutableRawPointer) {
        preconditionFailure("_PerThreadCells overrides it")
    }
}

/// The destructor of every aggregate's slot, called by the store with the cell
/// that a thread's word held when the thread exited (or when the aggregate
/// went away) and the registry given to `ctl_slot_create`: retires the cell
/// and drops its reference to the registry.
internal let _retireCell: ctl_destructor = { word, registry in
    let cells = Unmanaged<_CellRetirement>.fromOpaque(registry.unsafelyUnwrapped).takeRetainedValue()
    cells.retire(word.ptr.unsafelyUnwrapped)
}

/// Stops the process with `message`, naming `file` and `line`, in every build
/// configuration (`precondition` drops its message under `-O`). The message
/// is built only on this failure path.
@inline(never)
internal func _aggregateFailure(
    _ message: @autoclosure () -> String,
    file: StaticString = #fileID,
    line: UInt = #line
) -> Never {
    fatalError(message(), file: file, line: line)
}

// MARK: - Storage

/// A value and the pthread mutex that guards it, together on their own padded
/// block, reached through a pointer: no retain, no exclusivity check, and the
/// mutex never moves. (ThreadSanitizer sees a pthread mutex; on Linux it does
/// not see `Synchronization.Mutex`'s kernel handover.)
///
/// A lock that its holder takes again would wait forever; two ways stop it
/// with a message instead. The registry's mutex checks for errors (the lock
/// fails with `EDEADLK` when its holder takes it again: `lock(orStop:...)`).
/// A cell's mutex is a plain one, taken by its own thread on every update:
/// `ownerHolds` records, for that thread alone, that it holds it
/// (`withLockAsOwner`), which costs a few instructions where an
/// error-checking mutex costs about 30 more per update.
///
/// Invariant: `raw` came from `allocate(_:errorChecking:)`, and its owner
/// calls `deallocate()` once, when no thread can reach it any more.
@usableFromInline
internal struct _LockedStorage<Value: Sendable>: @unchecked Sendable {
    // Sendable: the value is only accessed with the mutex held, and is
    // Sendable itself; `ownerHolds` only by the cell's own thread.
    @usableFromInline
    internal let raw: UnsafeMutableRawPointer

    @inlinable
    internal init(raw: UnsafeMutableRawPointer) {
        self.raw = raw
    }

    /// Where `ownerHolds` is: after the mutex.
    @inlinable
    internal static var flagOffset: Int {
        (MemoryLayout<pthread_mutex_t>.size + 7) / 8 * 8
    }

    /// Where the value starts: after the flag, aligned for `Value`.
    @inlinable
    internal static var valueOffset: Int {
        let alignment = MemoryLayout<Value>.alignment
        return (flagOffset + MemoryLayout<Int>.size + alignment - 1) / alignment * alignment
    }

    @inlinable
    internal var mutex: UnsafeMutablePointer<pthread_mutex_t> {
        raw.assumingMemoryBound(to: pthread_mutex_t.self)
    }

    /// 1 while a cell's own thread holds the mutex, else 0; read and written
    /// by that thread only.
    @inlinable
    internal var ownerHolds: UnsafeMutablePointer<Int> {
        (raw + Self.flagOffset).assumingMemoryBound(to: Int.self)
    }

    /// The value; access it only with the mutex held.
    @inlinable
    internal var value: UnsafeMutablePointer<Value> {
        (raw + Self.valueOffset).assumingMemoryBound(to: Value.self)
    }

    internal static func allocate(_ initial: Value, errorChecking: Bool) -> Self {
        let raw = _allocatePadded(byteCount: valueOffset + MemoryLayout<Value>.size)
        let mutex = raw.bindMemory(to: pthread_mutex_t.self, capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        var attributes = pthread_mutexattr_t()
        pthread_mutexattr_init(&attributes)
        if errorChecking { pthread_mutexattr_settype(&attributes, Int32(PTHREAD_MUTEX_ERRORCHECK)) }
        let status = pthread_mutex_init(mutex, &attributes)
        pthread_mutexattr_destroy(&attributes)
        if status != 0 { _aggregateFailure("pthread_mutex_init failed: \(status)") }
        (raw + flagOffset).bindMemory(to: Int.self, capacity: 1).initialize(to: 0)
        (raw + valueOffset).bindMemory(to: Value.self, capacity: 1).initialize(to: initial)
        return Self(raw: raw)
    }

    internal func deallocate() {
        value.deinitialize(count: 1)
        pthread_mutex_destroy(mutex)
        raw.deallocate()
    }

    /// Locks an error-checking mutex; if the calling thread holds it already,
    /// stops with "`aggregate` `misuse`" at `file` and `line`.
    internal func lock(orStop misuse: StaticString, of aggregate: Any.Type, file: StaticString, line: UInt) {
        let status = pthread_mutex_lock(mutex)
        if status != 0 { _lockFailed(status, misuse, aggregate, file, line) }
    }

    /// Locks an accumulator cell's mutex on the cell's own thread; if that
    /// thread holds it already, stops with "`ThreadLocalAccumulator<Value>`
    /// `misuse`" at `file` and `line`.
    @inlinable
    @inline(__always)
    internal func lockAsOwner(orStop misuse: StaticString, file: StaticString, line: UInt) {
        if _slowPath(ownerHolds.pointee != 0) { Self._heldByOwner(misuse, file, line) }
        ownerHolds.pointee = 1
        pthread_mutex_lock(mutex)
    }

    @usableFromInline
    @inline(never)
    internal static func _heldByOwner(_ misuse: StaticString, _ file: StaticString, _ line: UInt) -> Never {
        _lockFailed(EDEADLK, misuse, ThreadLocalAccumulator<Value>.self, file, line)
    }

    @inlinable
    @inline(__always)
    internal func unlockAsOwner() {
        // Cleared before the unlock, so that the unlock orders it before a
        // reader's lock (and the free that may follow at the thread's exit).
        ownerHolds.pointee = 0
        pthread_mutex_unlock(mutex)
    }

    /// Calls `body` with the value, the mutex held; stops as `lock` does.
    internal func withLock<Result>(
        orStop misuse: StaticString,
        of aggregate: Any.Type,
        file: StaticString,
        line: UInt,
        _ body: (inout Value) -> Result
    ) -> Result {
        lock(orStop: misuse, of: aggregate, file: file, line: line)
        defer { pthread_mutex_unlock(mutex) }
        return body(&value.pointee)
    }

    /// Calls `body` with an accumulator cell's value on the cell's own
    /// thread, the mutex held; stops as `lockAsOwner` does.
    @inlinable
    @inline(__always)
    internal func withLockAsOwner<Result, Failure: Error>(
        orStop misuse: StaticString,
        file: StaticString,
        line: UInt,
        _ body: (inout Value) throws(Failure) -> Result
    ) throws(Failure) -> Result {
        lockAsOwner(orStop: misuse, file: file, line: line)
        defer { unlockAsOwner() }
        return try body(&value.pointee)
    }
}

/// Stops for a failed lock: `EDEADLK` is the misuse `misuse` of `aggregate`
/// at the caller's `file` and `line`.
@inline(never)
internal func _lockFailed(
    _ status: Int32,
    _ misuse: StaticString,
    _ aggregate: Any.Type,
    _ file: StaticString,
    _ line: UInt
) -> Never {
    if status == EDEADLK {
        _aggregateFailure(
            "\(aggregate) \(misuse); that would wait forever for a lock this thread holds",
            file: file,
            line: line
        )
    }
    _aggregateFailure("\(aggregate): pthread_mutex_lock failed: \(status)", file: file, line: line)
}

/// Allocates `byteCount` bytes on their own 128-byte aligned, 128-byte
/// rounded block, so that no other allocation shares their cache lines (x86
/// prefetches lines in pairs; Apple's arm64 lines are 128 bytes). Free with
/// `deallocate()`.
internal func _allocatePadded(byteCount: Int) -> UnsafeMutableRawPointer {
    let rounded = (max(byteCount, 1) + 127) / 128 * 128
    return UnsafeMutableRawPointer.allocate(byteCount: rounded, alignment: 128)
}
