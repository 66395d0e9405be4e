#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// The live cells of a `_PerThreadCells` and the total that the cells of
/// exited threads were folded into, guarded by the registry's mutex.
@usableFromInline
internal struct _CellState<Cell: AnyObject & Sendable, Total: Sendable>: Sendable {
    /// The cells of threads that have one and have not exited, each with the
    /// thread that owns it (see `_currentThreadID()`).
    internal var live: [ObjectIdentifier: (cell: Cell, thread: UInt)] = [:]
    /// What the cells of exited threads left behind.
    internal var total: Total

    internal init(total: Total) {
        self.total = total
    }
}

/// The calling thread's identity, as recorded with the cells it registers.
///
/// A `pthread_t` can be reused once its thread has exited; a thread's cells
/// leave the registry while it exits, before that can happen.
internal func _currentThreadID() -> UInt {
    #if canImport(Glibc)
        UInt(pthread_self())
    #else
        UInt(bitPattern: pthread_self())
    #endif
}

/// The shared side of a `_PerThreadCells`: the live cells and the total,
/// under a mutex.
///
/// Every operation that changes which cells are live, or reads the cells and
/// the total together, takes the mutex once, so a reader sees each thread's
/// cell either live or folded into the total, never both and never neither.
@usableFromInline
internal final class _CellRegistry<Cell: AnyObject & Sendable, Total: Sendable>: Sendable {
    private let state: _LockedStorage<_CellState<Cell, Total>>
    /// Adds a cell into a total; runs with the mutex held. Folds the cell of an
    /// exiting thread into `total`, and the live cells into a copy of `total`
    /// for `foldedTotal()`.
    private let fold: @Sendable (Cell, inout Total) -> Void
    /// The mutex inside a cell, for cells that have one (`fork()` holds it).
    private let cellMutex: (@Sendable (Cell) -> UnsafeMutablePointer<pthread_mutex_t>)?
    /// Set in a child process made by `fork()`: the cells to fold (see
    /// `withState`).
    private let leftByFork = _CellsLeftByFork()

    init(
        total: Total,
        fold: @escaping @Sendable (Cell, inout Total) -> Void,
        cellMutex: (@Sendable (Cell) -> UnsafeMutablePointer<pthread_mutex_t>)?
    ) {
        self.state = .allocate(_CellState(total: total))
        self.fold = fold
        self.cellMutex = cellMutex
    }

    deinit {
        state.deallocate()
    }

    /// Runs `body` with the mutex held, after folding the cells that a fork
    /// left behind, if any: in a child process made by `fork()`, the cells of
    /// the threads other than the forking one, which do not exist there. The
    /// fork handler only marks them (so that it runs no generic code in the
    /// child); the first operation in the child folds them, before any other
    /// thread of the child can register a cell.
    private func withState<Result>(_ body: (inout _CellState<Cell, Total>) -> Result) -> Result {
        state.withLock { state in
            foldCellsLeftByFork(&state)
            return body(&state)
        }
    }

    /// See `withState`. The caller holds the mutex.
    private func foldCellsLeftByFork(_ state: inout _CellState<Cell, Total>) {
        guard let forkingThread = leftByFork.forkingThread else { return }
        leftByFork.forkingThread = nil
        for (key, entry) in state.live where entry.thread != forkingThread {
            state.live.removeValue(forKey: key)
            fold(entry.cell, &state.total)
        }
    }

    /// Adds `cell` to the live cells, as the calling thread's.
    func register(_ cell: Cell) {
        let thread = _currentThreadID()
        withState { $0.live[ObjectIdentifier(cell)] = (cell, thread) }
    }

    /// Removes `cell` from the live cells and folds it into the total, in one
    /// critical section.
    func unregister(_ cell: Cell) {
        withState { state in
            let removed = state.live.removeValue(forKey: ObjectIdentifier(cell))
            assert(removed != nil, "per-thread cell unregistered twice")
            fold(cell, &state.total)
        }
    }

    /// The total with every live cell folded into it.
    func foldedTotal() -> Total {
        withState { state in
            var result = state.total
            for entry in state.live.values {
                fold(entry.cell, &result)
            }
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
}

/// The forking thread of the last `fork()` that made this process, for a
/// registry whose cells of the other threads are still to be folded; nil
/// otherwise.
internal final class _CellsLeftByFork: @unchecked Sendable {
    // Sendable: `forkingThread` is only accessed with the owning registry's
    // mutex held (the fork handlers hold it too).
    var forkingThread: UInt?
}

// MARK: - fork()

extension _CellRegistry: _ForkLockable {
    /// Locks the mutex and the mutexes of the other threads' cells if all are
    /// free, and returns them in the order they were locked; otherwise
    /// releases what it took and returns a wait for the one that was busy,
    /// which keeps that mutex's owner alive.
    func lockForFork(forkingThread: UInt) -> _ForkLockAttempt {
        guard state.tryLock() else {
            return .busy { [self] in
                state.lock()
                state.unlock()
            }
        }
        state.withLockHeld { foldCellsLeftByFork(&$0) }
        let registryMutex = _MutexPointer(state._mutex)
        let leftByFork = self.leftByFork
        guard let cellMutex else { return .locked([registryMutex], leftByFork) }
        var locked = [registryMutex]
        let busy: Cell? = state.withLockHeld { state in
            for entry in state.live.values where entry.thread != forkingThread {
                let mutex = cellMutex(entry.cell)
                guard pthread_mutex_trylock(mutex) == 0 else { return entry.cell }
                locked.append(_MutexPointer(mutex))
            }
            return nil
        }
        guard let busy else { return .locked(locked, leftByFork) }
        for mutex in locked.reversed() { mutex.unlock() }
        return .busy {
            let mutex = cellMutex(busy)
            pthread_mutex_lock(mutex)
            pthread_mutex_unlock(mutex)
            withExtendedLifetime(busy) {}
        }
    }
}
