public import CThreadLocals

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

// The engine of ThreadLocalCounter, ThreadLocalAccumulator and
// TrackedThreadLocal, from the top: the inline read of a thread's cell pointer,
// the registration of a thread's cell, the fold of a cell into the total when
// its thread exits, the readers, fork(), and the storage they use.
// The design and its terms: <doc:HowItWorks#The-per-thread-aggregates>.

// MARK: - The fast path

/// The calling thread's cell pointer from a cell-pointer slot, or nil if the
/// thread has none yet.
///
/// Reads the slot word directly: a `ThreadLocal<UInt>` keeps its value in the
/// word, bit for bit, and a thread with no word or a 0 word has no cell.
@inlinable
@inline(__always)
internal func _cachedCellPointer(_ slot: ctl_slot) -> UnsafeMutableRawPointer? {
    UnsafeMutableRawPointer(bitPattern: ctl_value_pointer(slot)?.pointee.uword ?? 0)
}

// MARK: - Registration

/// One cell per thread, created by the thread's first access, and a total that
/// a cell is folded into when its thread exits.
///
/// An accessor keeps its aggregate (which owns this) alive until its access
/// through the cell pointer has ended: the pointer alone keeps nothing alive.
@usableFromInline
internal final class _PerThreadCells<Cell: AnyObject & Sendable, Total: Sendable>: Sendable {
    /// The live cells and the total; every thread's owner holds it too.
    internal let registry: _CellRegistry<Cell, Total>
    /// The calling thread's owner of its cell, created by its first access.
    internal let cellOwner: ThreadLocal<_CellOwner<Cell, Total>>

    /// - Parameters:
    ///   - makeCell: Creates a thread's cell and the pointer its accessors use,
    ///     valid while the cell lives.
    ///   - fold: Adds a cell into a total; runs with the registry locked.
    ///   - cellMutex: The mutex in a cell, for cells that have one.
    init(
        total: Total,
        makeCell: @escaping @Sendable () -> (Cell, UnsafeMutableRawPointer),
        fold: @escaping @Sendable (Cell, inout Total) -> Void,
        cellMutex: (@Sendable (Cell) -> UnsafeMutablePointer<pthread_mutex_t>)? = nil
    ) {
        let registry = _CellRegistry(total: total, fold: fold, cellMutex: cellMutex)
        self.registry = registry
        self.cellOwner = ThreadLocal {
            let (cell, pointer) = makeCell()
            return _CellOwner(cell: cell, pointer: pointer, registry: registry)
        }
    }

    /// The slot that caches each thread's cell pointer.
    internal var cellPointerSlot: ctl_slot { registry.cellPointer._slot }

    /// The calling thread's cell pointer when the cache has none; registers
    /// the thread's cell first if it has none.
    @usableFromInline
    @inline(never)
    internal func cellPointerRegistering() -> UnsafeMutableRawPointer {
        let bits = cellOwner.value.pointerBits
        registry.cellPointer.value = bits
        return UnsafeMutableRawPointer(bitPattern: bits).unsafelyUnwrapped
    }
}

/// Owns one thread's cell as that thread's value of `cellOwner`: the store
/// releases it when the thread exits, or when the aggregate goes away.
///
/// Its deinit may run on an exiting thread after the aggregate is gone, so it
/// holds everything it uses: the cell and the registry.
@usableFromInline
internal final class _CellOwner<Cell: AnyObject & Sendable, Total: Sendable>: Sendable {
    let cell: Cell
    /// The cell pointer, as its bits.
    let pointerBits: UInt
    let registry: _CellRegistry<Cell, Total>

    init(cell: Cell, pointer: UnsafeMutableRawPointer, registry: _CellRegistry<Cell, Total>) {
        self.cell = cell
        self.pointerBits = UInt(bitPattern: pointer)
        self.registry = registry
        registry.register(cell)
    }

    deinit {
        registry.unregister(cell, pointerBits: pointerBits)
    }
}

// MARK: - The registry

/// The live cells and the total that the cells of exited threads were folded
/// into, under one mutex, and the cache of each thread's cell pointer.
///
/// Every change of which cells are live, and every read of the cells with the
/// total, takes the mutex once: a reader sees each thread's cell either live or
/// folded into the total, never both and never neither.
@usableFromInline
internal final class _CellRegistry<Cell: AnyObject & Sendable, Total: Sendable>: _ForkLockable {
    internal struct State: Sendable {
        /// Each live cell, with the thread that registered it.
        var live: [ObjectIdentifier: (cell: Cell, thread: UInt)] = [:]
        var total: Total
        /// In a child of fork(): the thread that forked, whose cells are the
        /// only live ones there; the others are still to be folded.
        var forkingThread: UInt?
    }

    /// Each thread's cell pointer, as its bits, or 0.
    ///
    /// Invariant: 0 or the pointer of the cell that the thread's live owner
    /// owns. `unregister` clears it, so an access later in the thread's
    /// teardown registers a new cell (released like any value stored then)
    /// and never reaches a freed one.
    let cellPointer = ThreadLocal<UInt> { 0 }
    private let state: _LockedStorage<State>
    private let fold: @Sendable (Cell, inout Total) -> Void
    private let cellMutex: (@Sendable (Cell) -> UnsafeMutablePointer<pthread_mutex_t>)?

    init(
        total: Total,
        fold: @escaping @Sendable (Cell, inout Total) -> Void,
        cellMutex: (@Sendable (Cell) -> UnsafeMutablePointer<pthread_mutex_t>)?
    ) {
        self.state = .allocate(State(total: total))
        self.fold = fold
        self.cellMutex = cellMutex
        _ForkHandlers.add(self)  // after `cellPointer`: see the lock order there
    }

    deinit {
        state.deallocate()
    }

    /// Runs `body` with the mutex held, after folding the cells left by a fork.
    private func withState<Result>(_ body: (inout State) -> Result) -> Result {
        state.withLock { state in
            foldCellsLeftByFork(&state)
            return body(&state)
        }
    }

    /// In a child of fork(), folds the cells of the threads that do not exist
    /// there, as if they had exited. The caller holds the mutex.
    private func foldCellsLeftByFork(_ state: inout State) {
        guard let forkingThread = state.forkingThread else { return }
        state.forkingThread = nil
        for (key, entry) in state.live where entry.thread != forkingThread {
            state.live[key] = nil
            fold(entry.cell, &state.total)
        }
    }

    /// Adds `cell` to the live cells, as the calling thread's.
    func register(_ cell: Cell) {
        let thread = _currentThreadID()
        withState { $0.live[ObjectIdentifier(cell)] = (cell, thread) }
    }

    /// Folds `cell` into the total and removes it from the live cells, in one
    /// critical section; then clears the calling thread's cell pointer if it
    /// is this cell's (only the owning thread's can be).
    func unregister(_ cell: Cell, pointerBits: UInt) {
        withState { state in
            let removed = state.live.removeValue(forKey: ObjectIdentifier(cell))
            assert(removed != nil, "per-thread cell unregistered twice")
            fold(cell, &state.total)
        }
        if cellPointer.hasValue && cellPointer.value == pointerBits {
            cellPointer.value = 0
        }
    }

    // MARK: Readers

    /// The total with every live cell folded into it.
    func foldedTotal() -> Total {
        withState { state in
            var result = state.total
            for entry in state.live.values { fold(entry.cell, &result) }
            return result
        }
    }

    /// The live cells, in no particular order.
    func liveCells() -> [Cell] {
        withState { $0.live.values.map(\.cell) }
    }

    /// The number of live cells.
    var liveCount: Int {
        withState { $0.live.count }
    }

    // MARK: fork()

    /// Locks the mutex and those of the other threads' cells and returns nil
    /// if all are free; otherwise locks nothing and returns a wait for the
    /// busy one, which keeps that mutex's owner alive.
    func tryLockForFork() -> (() -> Void)? {
        guard state.tryLock() else {
            return { [self] in state.withLock { _ in } }
        }
        foldCellsLeftByFork(&state.value.pointee)
        guard let cellMutex else { return nil }
        let thread = _currentThreadID()
        var locked: [UnsafeMutablePointer<pthread_mutex_t>] = []
        for entry in state.value.pointee.live.values where entry.thread != thread {
            let mutex = cellMutex(entry.cell)
            guard pthread_mutex_trylock(mutex) == 0 else {
                for mutex in locked { pthread_mutex_unlock(mutex) }
                state.unlock()
                let busy = entry.cell
                return {
                    pthread_mutex_lock(cellMutex(busy))
                    pthread_mutex_unlock(cellMutex(busy))
                }
            }
            locked.append(mutex)
        }
        return nil
    }

    /// Unlocks what `tryLockForFork()` locked; in the child, first marks the
    /// other threads' cells to be folded.
    func unlockAfterFork(inChild: Bool) {
        let thread = _currentThreadID()
        if inChild { state.value.pointee.forkingThread = thread }
        if let cellMutex {
            for entry in state.value.pointee.live.values where entry.thread != thread {
                pthread_mutex_unlock(cellMutex(entry.cell))
            }
        }
        state.unlock()
    }
}

/// The calling thread's identity, as recorded with the cells it registers.
///
/// A `pthread_t` can be reused once its thread has exited; the thread's cells
/// leave the registry while it exits, before that.
internal func _currentThreadID() -> UInt {
    #if canImport(Glibc)
        UInt(pthread_self())
    #else
        UInt(bitPattern: pthread_self())
    #endif
}

// MARK: - fork()

// fork() copies only the calling thread, so a mutex that another thread holds
// at that moment stays locked in the child, and that thread's cells stay
// registered there although it does not exist. POSIX allows a child of a
// multi-threaded process only async-signal-safe calls; the C store goes
// further and its thread-locals keep working in the child, and so do the
// aggregates, with one handler list in folly's `AtFork` shape. The prepare
// handler try-locks every registry and the other threads' cells (an
// accumulator's cell has a mutex, so no update is copied half-done). When one
// is busy it releases everything, waits for that one alone and tries again, so
// no order among registries and cells can deadlock it (an update may register
// in another aggregate). The child marks each registry, whose first use there
// folds the other threads' cells, as if those threads had exited. The forking
// thread's own cells are not locked: it may fork inside an update (but not
// inside `merge`, which runs with a registry locked: that fork waits forever).
// These handlers are installed after the store's (a registry creates its
// thread-local first) and prepare handlers run in reverse order, so registries
// are locked before the store's mutex, the order of normal operation.

/// A registry, as the fork handlers lock it.
internal protocol _ForkLockable: AnyObject, Sendable {
    func tryLockForFork() -> (() -> Void)?
    func unlockAfterFork(inChild: Bool)
}

internal enum _ForkHandlers {
    private struct Entry: Sendable {
        weak var registry: (any _ForkLockable)?
    }

    private struct State: Sendable {
        /// Every registry that may still be alive; pruned when one is added.
        var entries: [Entry] = []
        /// The registries locked from the prepare handler to the parent or
        /// child handler, kept alive until then.
        var locked: [any _ForkLockable] = []
    }

    /// Its mutex is held from the prepare handler to the parent or child
    /// handler. Never freed.
    private static let state = _LockedStorage<State>.allocate(State())

    private static let installed: Void = {
        let status = pthread_atfork({ _ForkHandlers.prepare() }, { _ForkHandlers.finish(inChild: false) }) {
            _ForkHandlers.finish(inChild: true)
        }
        precondition(status == 0, "pthread_atfork failed: \(status)")
    }()

    static func add(_ registry: any _ForkLockable) {
        _ = installed
        state.withLock { state in
            state.entries.removeAll { $0.registry == nil }
            state.entries.append(Entry(registry: registry))
        }
    }

    /// Releases no registry with a mutex held: a registry's deinit may run any
    /// code.
    private static func prepare() {
        while true {
            state.lock()
            let registries = state.value.pointee.entries.compactMap(\.registry)
            var wait: (() -> Void)?
            var locked = 0
            while wait == nil && locked < registries.count {
                wait = registries[locked].tryLockForFork()
                if wait == nil { locked += 1 }
            }
            guard let wait else {
                state.value.pointee.locked = registries
                return
            }
            for registry in registries[..<locked] { registry.unlockAfterFork(inChild: false) }
            state.unlock()
            wait()
            withExtendedLifetime(registries) {}
        }
    }

    /// The parent and child handlers. They run only code that the prepare
    /// handler ran first, so the child needs no Swift type metadata that
    /// another thread of the parent may have been creating at the fork.
    private static func finish(inChild: Bool) {
        let registries = state.value.pointee.locked
        state.value.pointee.locked = []
        for registry in registries { registry.unlockAfterFork(inChild: inChild) }
        state.unlock()
        withExtendedLifetime(registries) {}
    }
}

// MARK: - Storage

/// A value and the pthread mutex that guards it, together on their own padded
/// block, reached through a pointer: no retain, no exclusivity check, and the
/// mutex never moves. (ThreadSanitizer sees a pthread mutex; on Linux it does
/// not see `Synchronization.Mutex`'s kernel handover.)
///
/// Invariant: `raw` came from `allocate(_:)`, and its owner calls
/// `deallocate()` once, when no thread can reach it any more.
@usableFromInline
internal struct _LockedStorage<Value: Sendable>: @unchecked Sendable {
    // Sendable: the value is only accessed with the mutex held, and is
    // Sendable itself.
    @usableFromInline
    internal let raw: UnsafeMutableRawPointer

    @inlinable
    internal init(raw: UnsafeMutableRawPointer) {
        self.raw = raw
    }

    /// Where the value starts: after the mutex, aligned for `Value`.
    @inlinable
    internal static var valueOffset: Int {
        let alignment = MemoryLayout<Value>.alignment
        return (MemoryLayout<pthread_mutex_t>.size + alignment - 1) / alignment * alignment
    }

    @inlinable
    internal var mutex: UnsafeMutablePointer<pthread_mutex_t> {
        raw.assumingMemoryBound(to: pthread_mutex_t.self)
    }

    /// The value; access it only with the mutex held.
    @inlinable
    internal var value: UnsafeMutablePointer<Value> {
        (raw + Self.valueOffset).assumingMemoryBound(to: Value.self)
    }

    internal static func allocate(_ initial: Value) -> Self {
        let raw = _allocatePadded(byteCount: valueOffset + MemoryLayout<Value>.size)
        let mutex = raw.bindMemory(to: pthread_mutex_t.self, capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        let status = pthread_mutex_init(mutex, nil)
        precondition(status == 0, "pthread_mutex_init failed: \(status)")
        (raw + valueOffset).bindMemory(to: Value.self, capacity: 1).initialize(to: initial)
        return Self(raw: raw)
    }

    internal func deallocate() {
        value.deinitialize(count: 1)
        pthread_mutex_destroy(mutex)
        raw.deallocate()
    }

    /// Calls `body` with the value, the mutex held.
    @inlinable
    internal func withLock<Result, Failure: Error>(
        _ body: (inout Value) throws(Failure) -> Result
    ) throws(Failure) -> Result {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body(&value.pointee)
    }

    internal func lock() { pthread_mutex_lock(mutex) }
    internal func tryLock() -> Bool { pthread_mutex_trylock(mutex) == 0 }
    internal func unlock() { pthread_mutex_unlock(mutex) }
}

/// Allocates `byteCount` bytes on their own 128-byte aligned, 128-byte
/// rounded block, so that no other allocation shares their cache lines (x86
/// prefetches lines in pairs; Apple's arm64 lines are 128 bytes). Free with
/// `deallocate()`.
internal func _allocatePadded(byteCount: Int) -> UnsafeMutableRawPointer {
    let rounded = (max(byteCount, 1) + 127) / 128 * 128
    return UnsafeMutableRawPointer.allocate(byteCount: rounded, alignment: 128)
}
