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

    /// Adds `cell` to the live cells, as the calling thread's.
    func register(_ cell: Cell) {
        let thread = _currentThreadID()
        state.withLock { $0.live[ObjectIdentifier(cell)] = (cell, thread) }
    }

    /// Removes `cell` from the live cells and folds it into the total, in one
    /// critical section.
    func unregister(_ cell: Cell) {
        state.withLock { state in
            let removed = state.live.removeValue(forKey: ObjectIdentifier(cell))
            assert(removed != nil, "per-thread cell unregistered twice")
            fold(cell, &state.total)
        }
    }

    /// The total with every live cell folded into it.
    func foldedTotal() -> Total {
        state.withLock { state in
            var result = state.total
            for entry in state.live.values {
                fold(entry.cell, &result)
            }
            return result
        }
    }

    /// The live cells, in no particular order.
    func liveCells() -> [Cell] {
        state.withLock { $0.live.values.map(\.cell) }
    }

    /// The number of live cells.
    var liveCount: Int {
        state.withLock { $0.live.count }
    }
}

// MARK: - fork()

extension _CellRegistry: _ForkLockable {
    /// Locks the mutex and the mutexes of the other threads' cells if all are
    /// free; otherwise releases what it took and returns a wait for the one
    /// that was busy. The wait keeps that mutex's owner alive.
    func lockForFork(forkingThread: UInt) -> _ForkLockAttempt {
        guard state.tryLock() else {
            return .busy { [self] in
                state.lock()
                state.unlock()
            }
        }
        guard let cellMutex else { return .locked }
        let busy: Cell? = state.withLockHeld { state in
            var locked: [UnsafeMutablePointer<pthread_mutex_t>] = []
            for entry in state.live.values where entry.thread != forkingThread {
                let mutex = cellMutex(entry.cell)
                guard pthread_mutex_trylock(mutex) == 0 else {
                    for taken in locked.reversed() { pthread_mutex_unlock(taken) }
                    return entry.cell
                }
                locked.append(mutex)
            }
            return nil
        }
        guard let busy else { return .locked }
        state.unlock()
        return .busy {
            let mutex = cellMutex(busy)
            pthread_mutex_lock(mutex)
            pthread_mutex_unlock(mutex)
            withExtendedLifetime(busy) {}
        }
    }

    /// In the parent: unlocks what `lockForFork` locked.
    func unlockAfterForkInParent(forkingThread: UInt) {
        if let cellMutex {
            state.withLockHeld { state in
                for entry in state.live.values where entry.thread != forkingThread {
                    pthread_mutex_unlock(cellMutex(entry.cell))
                }
            }
        }
        state.unlock()
    }

    /// In the child, where only the forking thread exists: moves the other
    /// threads' cells out of the live set, folding each into the total (as if
    /// their threads had exited), and unlocks what `lockForFork` locked. The
    /// mutexes are unlocked, not initialised again: this thread holds them.
    ///
    /// The cells stay allocated: the values of the vanished threads that own
    /// them are dropped, not released, by the thread-local store.
    func unlockAfterForkInChild(forkingThread: UInt) {
        state.withLockHeld { state in
            for (key, entry) in state.live where entry.thread != forkingThread {
                if let cellMutex { pthread_mutex_unlock(cellMutex(entry.cell)) }
                state.live.removeValue(forKey: key)
                fold(entry.cell, &state.total)
            }
        }
        state.unlock()
    }
}
