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
// TrackedThreadLocal, from the top: the inline read of a thread's cell pointer,
// the registration of a thread's cell, the fold of a cell into the total when
// its thread exits, the readers, and the storage they use.
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
    init(
        total: Total,
        makeCell: @escaping @Sendable () -> (Cell, UnsafeMutableRawPointer),
        fold: @escaping @Sendable (Cell, inout Total) -> Void
    ) {
        let registry = _CellRegistry(total: total, fold: fold)
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
        registry.register(cell, owner: ObjectIdentifier(self))
    }

    deinit {
        registry.unregister(owner: ObjectIdentifier(self), pointerBits: pointerBits)
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
internal final class _CellRegistry<Cell: AnyObject & Sendable, Total: Sendable>: Sendable {
    internal struct State: Sendable {
        /// Keyed by the owner, not the cell: one object may be the cell of
        /// several threads (a `TrackedThreadLocal` whose initial-value closure
        /// returns a shared object), and each thread's entry is its own.
        var live: [ObjectIdentifier: Cell] = [:]
        var total: Total
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

    init(total: Total, fold: @escaping @Sendable (Cell, inout Total) -> Void) {
        self.state = .allocate(State(total: total))
        self.fold = fold
    }

    deinit {
        state.deallocate()
    }

    /// Adds `cell`, owned by the thread's owner `owner`, to the live cells.
    func register(_ cell: Cell, owner: ObjectIdentifier) {
        state.withLock { $0.live[owner] = cell }
    }

    /// Folds the cell of `owner` into the total and removes it from the live
    /// cells, in one critical section; then clears the calling thread's cell
    /// pointer if it is this cell's (only the owning thread's can be).
    func unregister(owner: ObjectIdentifier, pointerBits: UInt) {
        state.withLock { state in
            guard let cell = state.live.removeValue(forKey: owner) else {
                _threadLocalFailure("per-thread cell unregistered twice")
            }
            fold(cell, &state.total)
        }
        if cellPointer.hasValue && cellPointer.value == pointerBits {
            cellPointer.value = 0
        }
    }

    // MARK: Readers

    /// The total with every live cell folded into it.
    func foldedTotal() -> Total {
        state.withLock { state in
            var result = state.total
            for cell in state.live.values { fold(cell, &result) }
            return result
        }
    }

    /// The live cells, in no particular order.
    func liveCells() -> [Cell] {
        state.withLock { Array($0.live.values) }
    }

    /// The number of live cells.
    var liveCount: Int {
        state.withLock { $0.live.count }
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
}

/// Allocates `byteCount` bytes on their own 128-byte aligned, 128-byte
/// rounded block, so that no other allocation shares their cache lines (x86
/// prefetches lines in pairs; Apple's arm64 lines are 128 bytes). Free with
/// `deallocate()`.
internal func _allocatePadded(byteCount: Int) -> UnsafeMutableRawPointer {
    let rounded = (max(byteCount, 1) + 127) / 128 * 128
    return UnsafeMutableRawPointer.allocate(byteCount: rounded, alignment: 128)
}
