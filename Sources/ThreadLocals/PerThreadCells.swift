public import CThreadLocals

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

// The engine behind `TrackedThreadLocal`, `ThreadLocalCounter` and
// `ThreadLocalAccumulator`: one cell per thread, created on the thread's first
// access; a registry of the live cells (`_CellRegistry`); and a fold of each
// cell into a shared total when its thread exits (`_CellOwner`).
//
// A cell's *access pointer* is what the aggregate's accessors work through:
// the counter's `Atomic<Int>`, the accumulator's locked value, the tracked
// object itself. Two thread-locals per engine:
//
// - `cellPointer` caches the calling thread's access pointer (its bits; 0
//   before the thread's first access). It is stored in the thread's slot
//   itself, so the accessors read it inline, with no box and no access check.
//   It owns nothing.
// - `cellOwner` holds the `_CellOwner` that owns the thread's cell. The store
//   releases it when the thread exits (or on the thread that deinitializes the
//   engine); its deinit folds the cell into the total and removes it from the
//   registry, in one critical section.
//
// Invariant: a thread's `cellPointer` is either 0 or the access pointer of the
// cell owned by its live `cellOwner` value. The owner's deinit sets
// `cellPointer` to 0 if it still holds its cell's pointer, so an access made
// later in the thread's teardown (by another value's deinit) takes the slow
// path and gets a new cell; it never touches a freed cell. That new owner is
// stored during the teardown, so the store's next exit sweep releases it, and
// its cell is folded then. (One stored in the last sweep stays until the
// engine is deinitialized: its cell stays live, and is counted, until then.)
//
// An access pointer is valid while the thread runs and the engine lives: the
// engine owns the slots, and destroying a slot releases every thread's owner.
// So an accessor keeps its aggregate (which owns the engine) alive until the
// access through the pointer has ended; the pointer alone does not.
//
// fork(): see ForkHandlers.swift.

/// The calling thread's access pointer from a `cellPointer` slot, or nil if
/// the thread has none yet. Inlined, no lock.
///
/// Reads the slot word directly: a `ThreadLocal<UInt>` stores its value in the
/// word itself, bit for bit, and a thread with no word or a 0 word has no cell.
@inlinable
@inline(__always)
internal func _cachedCellPointer(_ slot: ctl_slot) -> UnsafeMutableRawPointer? {
    UnsafeMutableRawPointer(bitPattern: ctl_value_pointer(slot)?.pointee.uword ?? 0)
}

/// One cell per thread, created lazily on the thread's first access, with a
/// registry of the live cells and a total that cells are folded into when
/// their thread exits.
@usableFromInline
internal final class _PerThreadCells<Cell: AnyObject & Sendable, Total: Sendable>: Sendable {
    /// The calling thread's access pointer, as its bits, or 0; see above.
    internal let cellPointer: ThreadLocal<UInt>
    /// The calling thread's `_CellOwner`, created by the first access.
    internal let cellOwner: ThreadLocal<_CellOwner<Cell, Total>>
    private let registry: _CellRegistry<Cell, Total>

    /// - Parameters:
    ///   - total: The total before any thread exits.
    ///   - makeCell: Creates a thread's cell and returns it with its access
    ///     pointer, which must stay valid while the cell lives.
    ///   - fold: Adds a cell into a total, with the registry's mutex held.
    ///   - cellMutex: The mutex inside a cell, for cells that have one.
    init(
        total: Total,
        makeCell: @escaping @Sendable () -> (Cell, UnsafeMutableRawPointer),
        fold: @escaping @Sendable (Cell, inout Total) -> Void,
        cellMutex: (@Sendable (Cell) -> UnsafeMutablePointer<pthread_mutex_t>)? = nil
    ) {
        let registry = _CellRegistry(total: total, fold: fold, cellMutex: cellMutex)
        let cellPointer = ThreadLocal<UInt> { 0 }
        self.registry = registry
        self.cellPointer = cellPointer
        self.cellOwner = ThreadLocal {
            let (cell, accessPointer) = makeCell()
            return _CellOwner(cell: cell, accessPointer: accessPointer, registry: registry, cellPointer: cellPointer)
        }
        // After the thread-locals: see the lock order in ForkHandlers.swift.
        _ForkGuard.add(registry)
    }

    /// The slot of `cellPointer`, for `_cachedCellPointer(_:)`.
    internal var cellPointerSlot: ctl_slot {
        cellPointer._slot
    }

    /// The calling thread's access pointer when `cellPointer` holds none:
    /// creates and registers the thread's cell if needed, and caches its
    /// pointer in `cellPointer`.
    @usableFromInline
    @inline(never)
    internal func registerCurrentThread() -> UnsafeMutableRawPointer {
        let bits = cellOwner.value.accessPointerBits
        cellPointer.value = bits
        return UnsafeMutableRawPointer(bitPattern: bits).unsafelyUnwrapped
    }

    /// The total with every live cell folded into it.
    internal func foldedTotal() -> Total {
        registry.foldedTotal()
    }

    /// The cells of the running threads that have one, in no particular order.
    internal func liveCells() -> [Cell] {
        registry.liveCells()
    }

    /// The number of running threads that have a cell.
    internal var threadCount: Int {
        registry.liveCount
    }
}
