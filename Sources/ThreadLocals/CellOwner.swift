/// Owns one thread's cell of a `_PerThreadCells`: it is that thread's value of
/// the `cellOwner` thread-local, so the store releases it when the thread
/// exits (or when the `_PerThreadCells` is deinitialized, on the thread that
/// does it). Its deinit folds the cell into the total.
@usableFromInline
internal final class _CellOwner<Cell: AnyObject & Sendable, Total: Sendable>: Sendable {
    let cell: Cell
    /// The cell's access pointer (see `_PerThreadCells`), as its bits.
    let accessPointerBits: UInt
    let registry: _CellRegistry<Cell, Total>
    let cellPointer: ThreadLocal<UInt>

    /// Registers `cell` as the calling thread's.
    init(
        cell: Cell,
        accessPointer: UnsafeMutableRawPointer,
        registry: _CellRegistry<Cell, Total>,
        cellPointer: ThreadLocal<UInt>
    ) {
        self.cell = cell
        self.accessPointerBits = UInt(bitPattern: accessPointer)
        self.registry = registry
        self.cellPointer = cellPointer
        registry.register(cell)
    }

    /// Runs on the exiting thread (or on the thread that deinitializes the
    /// `_PerThreadCells`, when no other thread can use it any more).
    deinit {
        registry.unregister(cell)
        // Keep the invariant: `cellPointer` never outlives the cell it points
        // at. Only the owning thread's `cellPointer` can hold this cell's
        // pointer; on any other thread this compares and leaves that thread's
        // own pointer alone.
        if cellPointer.hasValue && cellPointer.value == accessPointerBits {
            cellPointer.value = 0
        }
    }
}
