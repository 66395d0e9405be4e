#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

// fork() copies only the calling thread. A mutex that another thread held at
// that moment stays locked in the child forever, and the cells of the other
// threads stay registered there although their threads do not exist. So the
// registries of the per-thread aggregates are locked across fork(), with the
// mutexes of the cells of the other threads (an accumulator's cell has one).
// The child handler marks each registry, and the registry's first operation in
// the child folds those cells into its total, as if their threads had exited:
// a counter's sum is the same in the child, and only the child's one thread
// has a live cell.
//
// Lock order. Normal operation takes a registry's mutex, then possibly a
// cell's mutex (to fold it) or the thread-local store's mutex (a merge
// function that touches a thread-local for the first time), never the other
// way round: the store runs no Swift code with its mutex held. The handlers
// here are registered after the store's (they are installed when the first
// registry is created, after that registry's thread-locals, which set the
// store up), and prepare handlers run in reverse order of registration, so the
// registries are locked before the store's mutex. Among themselves, the
// registries and cells are taken with try-locks: when one is busy, everything
// is released and the prepare handler waits for that one alone before trying
// again, so no order between registries (or a cell whose holder is waiting
// for a registry, as in an update that registers in another aggregate) can
// deadlock. The forking thread's own cells are not locked: it may fork inside
// an update.

/// A registry that the fork handlers lock and unlock.
internal protocol _ForkLockable: AnyObject, Sendable {
    func lockForFork(forkingThread: UInt) -> _ForkLockAttempt
}

internal enum _ForkLockAttempt {
    /// The mutexes it locked, in order, and where to mark, in the child,
    /// that the other threads' cells are to be folded.
    case locked([_MutexPointer], _CellsLeftByFork)
    /// Nothing is locked; the closure blocks until the mutex that was busy is
    /// free.
    case busy(() -> Void)
}

/// A pthread mutex that the fork handlers hold.
internal struct _MutexPointer: @unchecked Sendable {
    // Sendable: a mutex is made to be used from any thread; its owner keeps
    // it allocated while the fork handlers hold it.
    let mutex: UnsafeMutablePointer<pthread_mutex_t>

    init(_ mutex: UnsafeMutablePointer<pthread_mutex_t>) {
        self.mutex = mutex
    }

    func unlock() {
        pthread_mutex_unlock(mutex)
    }
}

/// The live registries, for the fork handlers.
///
/// The parent and child handlers use only what the prepare handler collected:
/// the mutexes, unlocked in reverse order, and the registries' marks. So the
/// child handler runs no generic code, which could need Swift type metadata
/// that another thread of the parent was creating at the fork.
internal enum _ForkGuard {
    private struct Entry: Sendable {
        weak var registry: (any _ForkLockable)?
    }

    private struct State: Sendable {
        /// Every registry created so far that may still be alive, in creation
        /// order. Entries whose registry is gone are pruned on insertion.
        var entries: [Entry] = []
        /// The registries that the prepare handler locked (kept alive until
        /// the parent or child handler has unlocked them), their mutexes in
        /// the order they were locked, and their marks.
        var registries: [any _ForkLockable] = []
        var mutexes: [_MutexPointer] = []
        var marks: [_CellsLeftByFork] = []
    }

    /// Its mutex is held from the prepare handler to the parent or child
    /// handler. Never freed.
    private static let state = _LockedStorage<State>.allocate(State())

    private static let handlersInstalled: Void = {
        let status = pthread_atfork(
            { _ForkGuard.prepare() },
            { _ForkGuard.parent() },
            { _ForkGuard.child() }
        )
        precondition(status == 0, "pthread_atfork failed: \(status)")
    }()

    /// Adds `registry` to the registries locked across fork(), and installs
    /// the fork handlers on first use. Call it after the registry's
    /// thread-locals were created (see the lock order above).
    static func add(_ registry: any _ForkLockable) {
        _ = handlersInstalled
        // Run the parent and child handlers' code once (with nothing to
        // unlock), so that the first child finds every type it uses ready.
        state.lock()
        withExtendedLifetime(unlockAll(forkingThread: nil)) {}
        state.withLock { state in
            state.entries.removeAll { $0.registry == nil }
            state.entries.append(Entry(registry: registry))
        }
    }

    private static func prepare() {
        let thread = _currentThreadID()
        while true {
            guard let wait = tryLockAll(forkingThread: thread) else { return }
            wait()
        }
    }

    /// Locks this list and every registry, or, if one is busy, nothing, and
    /// returns the wait for it. Releases no registry reference with a mutex
    /// held: a registry's deinit may run arbitrary code.
    private static func tryLockAll(forkingThread: UInt) -> (() -> Void)? {
        state.lock()
        let registries = state.withLockHeld { $0.entries.compactMap(\.registry) }
        var mutexes: [_MutexPointer] = []
        var marks: [_CellsLeftByFork] = []
        var wait: (() -> Void)?
        for registry in registries {
            switch registry.lockForFork(forkingThread: forkingThread) {
            case .locked(let locked, let mark):
                mutexes += locked
                marks.append(mark)
            case .busy(let busy):
                wait = busy
            }
            if wait != nil { break }
        }
        if wait == nil {
            state.withLockHeld { state in
                state.registries = registries
                state.mutexes = mutexes
                state.marks = marks
            }
            return nil
        }
        for mutex in mutexes.reversed() { mutex.unlock() }
        state.unlock()
        withExtendedLifetime(registries) {}
        return wait
    }

    /// Unlocks what the prepare handler locked, after marking the
    /// registries in the child, and returns the registries it kept alive, to
    /// be released with no mutex held. (No tuples and no new collection
    /// types: nothing here needs type metadata that the parent did not use.)
    private static func unlockAll(forkingThread: UInt?) -> [any _ForkLockable] {
        let registries = state.withLockHeld { state in
            // In the parent this sets nil over nil (`lockForFork` folded any
            // earlier fork's cells): the same code runs in parent and child.
            for mark in state.marks { mark.forkingThread = forkingThread }
            var index = state.mutexes.count
            while index > 0 {
                index -= 1
                state.mutexes[index].unlock()
            }
            state.mutexes = []
            state.marks = []
            defer { state.registries = [] }
            return state.registries
        }
        state.unlock()
        return registries
    }

    private static func parent() {
        withExtendedLifetime(unlockAll(forkingThread: nil)) {}
    }

    private static func child() {
        withExtendedLifetime(unlockAll(forkingThread: _currentThreadID())) {}
    }
}
