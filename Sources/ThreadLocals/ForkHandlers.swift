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
// mutexes of the cells of the other threads (an accumulator's cell has one),
// and the child folds those cells into the totals, as if their threads had
// exited: a counter's sum is the same in the child, and only the child's one
// thread has a live cell.
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
    func unlockAfterForkInParent(forkingThread: UInt)
    func unlockAfterForkInChild(forkingThread: UInt)
}

internal enum _ForkLockAttempt {
    /// Everything is locked.
    case locked
    /// Nothing is locked; the closure blocks until the mutex that was busy is
    /// free.
    case busy(() -> Void)
}

/// The live registries, for the fork handlers.
internal enum _ForkGuard {
    private struct Entry: Sendable {
        weak var registry: (any _ForkLockable)?
    }

    private struct State: Sendable {
        /// Every registry created so far that may still be alive, in creation
        /// order. Entries whose registry is gone are pruned on insertion.
        var entries: [Entry] = []
        /// The registries that the prepare handler locked, held until the
        /// parent or child handler has unlocked them.
        var locked: [any _ForkLockable] = []
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

    /// Locks this list and every registry (keeping them in `locked`), or, if
    /// one is busy, nothing, and returns the wait for it. Releases no
    /// registry reference with a mutex held: a registry's deinit may run
    /// arbitrary code.
    private static func tryLockAll(forkingThread: UInt) -> (() -> Void)? {
        state.lock()
        let registries = state.withLockHeld { $0.entries.compactMap(\.registry) }
        var lockedCount = 0
        var wait: (() -> Void)?
        for registry in registries {
            if case .busy(let busy) = registry.lockForFork(forkingThread: forkingThread) {
                wait = busy
                break
            }
            lockedCount += 1
        }
        if wait == nil {
            state.withLockHeld { $0.locked = registries }
            return nil
        }
        for registry in registries[..<lockedCount].reversed() {
            registry.unlockAfterForkInParent(forkingThread: forkingThread)
        }
        state.unlock()
        withExtendedLifetime(registries) {}
        return wait
    }

    private static func parent() {
        let thread = _currentThreadID()
        let registries = state.withLockHeld { state in
            defer { state.locked = [] }
            return state.locked
        }
        for registry in registries.reversed() {
            registry.unlockAfterForkInParent(forkingThread: thread)
        }
        state.unlock()
        withExtendedLifetime(registries) {}
    }

    private static func child() {
        let thread = _currentThreadID()
        let registries = state.withLockHeld { state in
            defer { state.locked = [] }
            return state.locked
        }
        for registry in registries.reversed() {
            registry.unlockAfterForkInChild(forkingThread: thread)
        }
        state.unlock()
        withExtendedLifetime(registries) {}
    }
}
