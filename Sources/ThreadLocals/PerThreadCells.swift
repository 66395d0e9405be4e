// The engine behind `TrackedThreadLocal`, `ThreadLocalCounter` and
// `ThreadLocalAccumulator`: one cell per thread, a registry of the live cells,
// and a fold of each cell into a shared total when its thread exits.
//
// Two thread-locals per engine:
//
// - `fast` (a pointer, stored inline in the thread's slot: no box, no access
//   check) points at the calling thread's cell, or at the part of it that the
//   hot path touches. It is a borrowed pointer: it owns nothing.
// - `owners` (boxed) holds the `_CellOwner` that owns the thread's cell. The
//   store releases it on the exiting thread (or on the thread that deinits the
//   engine), and its deinit folds the cell into the total and unregisters it,
//   in one critical section of the registry's mutex.
//
// Invariant: a thread's `fast` value is either nil or the hot pointer of the
// cell owned by its live `owners` value. The owner's deinit clears `fast` if it
// still points at its cell, so an access made later in the thread's teardown
// (by another value's deinit) takes the slow path and gets a new cell, which
// is folded in its turn; it never touches a freed cell.

/// The bytes kept free around a hot per-thread cell: two 64-byte cache lines,
/// since x86's adjacent-line prefetcher pulls lines in pairs and Apple's arm64
/// cores use 128-byte lines.
internal let _cellAlignment = 128

/// Allocates uninitialized storage for one `T` alone on its own 128-byte
/// aligned block(s), so that no other allocation shares its cache lines.
internal func _allocatePadded<T: ~Copyable>(_: T.Type) -> UnsafeMutablePointer<T> {
    let size = (max(MemoryLayout<T>.size, 1) + _cellAlignment - 1) / _cellAlignment * _cellAlignment
    return UnsafeMutableRawPointer.allocate(byteCount: size, alignment: _cellAlignment)
        .bindMemory(to: T.self, capacity: 1)
}

/// The live cells and the folded total, guarded by the registry's mutex.
@usableFromInline
internal struct _CellState<Cell: AnyObject & Sendable, Total: Sendable>: Sendable {
    /// The cells of threads that have one and have not exited.
    @usableFromInline
    internal var live: [ObjectIdentifier: Cell] = [:]
    /// What the cells of exited threads left behind.
    @usableFromInline
    internal var total: Total

    @usableFromInline
    internal init(total: Total) {
        self.total = total
    }
}

/// The shared side of an engine: the live cells and the total, under a mutex.
@usableFromInline
internal final class _CellRegistry<Cell: AnyObject & Sendable, Total: Sendable>: Sendable {
    private let state: _LockedStorage<_CellState<Cell, Total>>
    /// Folds a cell into the total. Runs with the mutex held.
    private let retire: @Sendable (Cell, inout Total) -> Void

    init(total: Total, retire: @escaping @Sendable (Cell, inout Total) -> Void) {
        self.state = .allocate(_CellState(total: total))
        self.retire = retire
    }

    deinit {
        state.deallocate()
    }

    func register(_ cell: Cell) {
        state.withLock { $0.live[ObjectIdentifier(cell)] = cell }
    }

    /// Removes `cell` from the live set and folds it into the total, in one
    /// critical section: a reader sees the cell either live or folded, never
    /// both and never neither.
    func unregister(_ cell: Cell) {
        state.withLock { state in
            let removed = state.live.removeValue(forKey: ObjectIdentifier(cell))
            assert(removed != nil, "per-thread cell unregistered twice")
            retire(cell, &state.total)
        }
    }

    /// Runs `body` with the mutex held.
    func withLockedState<Result>(_ body: (inout _CellState<Cell, Total>) -> Result) -> Result {
        state.withLock(body)
    }
}

/// Owns one thread's cell. It is the value of the engine's `owners`
/// thread-local, so the store releases it when the thread exits.
@usableFromInline
internal final class _CellOwner<Cell: AnyObject & Sendable, Total: Sendable> {
    let cell: Cell
    /// The pointer that `fast` holds for this cell.
    @usableFromInline
    let hot: UnsafeMutableRawPointer
    let registry: _CellRegistry<Cell, Total>
    let fast: ThreadLocal<UnsafeMutableRawPointer?>

    init(
        cell: Cell,
        hot: UnsafeMutableRawPointer,
        registry: _CellRegistry<Cell, Total>,
        fast: ThreadLocal<UnsafeMutableRawPointer?>
    ) {
        self.cell = cell
        self.hot = hot
        self.registry = registry
        self.fast = fast
        registry.register(cell)
    }

    /// Runs on the exiting thread (or on the thread that deinits the engine,
    /// when no other thread can use it any more).
    deinit {
        registry.unregister(cell)
        // Keep the invariant: `fast` never outlives the cell it points at. Only
        // the owning thread's `fast` can hold `hot`; on any other thread this
        // compares and leaves that thread's own pointer alone.
        if fast.hasValue && fast.value == hot {
            fast.value = nil
        }
    }
}

/// One cell per thread, created lazily on the thread's first access, with a
/// registry of the live cells and a total that cells are folded into when
/// their thread exits.
@usableFromInline
internal final class _PerThreadCells<Cell: AnyObject & Sendable, Total: Sendable>: Sendable {
    /// The calling thread's hot pointer, or nil; see the invariant above.
    @usableFromInline
    nonisolated(unsafe) internal let fast: ThreadLocal<UnsafeMutableRawPointer?>
    nonisolated(unsafe) internal let owners: ThreadLocal<_CellOwner<Cell, Total>>
    private let registry: _CellRegistry<Cell, Total>

    /// - Parameters:
    ///   - total: The total before any thread exits.
    ///   - makeCell: Creates a thread's cell and returns it with its hot pointer,
    ///     which must stay valid while the cell lives.
    ///   - retire: Folds an exiting thread's cell into the total, under the mutex.
    init(
        total: Total,
        makeCell: @escaping @Sendable () -> (Cell, UnsafeMutableRawPointer),
        retire: @escaping @Sendable (Cell, inout Total) -> Void
    ) {
        let registry = _CellRegistry(total: total, retire: retire)
        nonisolated(unsafe) let fast = ThreadLocal<UnsafeMutableRawPointer?>()
        self.registry = registry
        self.fast = fast
        self.owners = ThreadLocal {
            let (cell, hot) = makeCell()
            return _CellOwner(cell: cell, hot: hot, registry: registry, fast: fast)
        }
    }

    /// The calling thread's hot pointer when `fast` holds none: creates and
    /// registers the thread's cell if needed, and caches its pointer in `fast`.
    ///
    /// The pointer stays valid until the thread exits. Late in a thread's
    /// teardown (its storage closed) the owner is kept by the store until the
    /// end of the teardown and `fast` stays nil, so each such access takes this
    /// path again; rare, and still counted.
    @usableFromInline
    @inline(never)
    internal func slowHotPointer() -> UnsafeMutableRawPointer {
        let hot = owners.value.hot
        fast.value = hot
        return hot
    }

    /// Runs `body` with the registry's mutex held: the live cells and the
    /// total of the exited ones, consistent with each other.
    internal func withLockedState<Result>(_ body: (inout _CellState<Cell, Total>) -> Result) -> Result {
        registry.withLockedState(body)
    }
}
