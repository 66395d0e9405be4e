// SPDX-License-Identifier: Apache-2.0
import CThreadLocals
import Dispatch
import Synchronization
import Testing
import ThreadLocals
import ThreadLocalsTestSupport

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

extension Stress {
    /// Deinitializers that use thread-locals while their thread exits: the
    /// outcome is bounded and the one the documentation gives.
    @Suite("re-entrancy")
    struct Reentrancy {
        @Test("a deinit that reads its own ThreadLocal during thread exit sees a fresh value")
        func deinitReadsSameLocal() {
            let counter = LifetimeCounter()
            let seen = Locked<[Int]>([])
            let local = Late<ThreadLocal<LifetimeTracked<Int>>>()
            local.set(ThreadLocal { LifetimeTracked(0, counter: counter) })
            let threads = StressConfig.scaled(200)
            _ = onNewThreads(count: threads) { i in
                local.get.value = LifetimeTracked(i + 1, counter: counter) { _ in
                    // Runs in round 1 of this thread's exit: the value was
                    // already taken out, so this creates a fresh one, which
                    // round 2 releases.
                    let payload = local.get.value.payload
                    seen.withLock { $0.append(payload) }
                }
            }
            #expect(seen.withLock { $0 } == Array(repeating: 0, count: threads))
            #expect(counter.live == 0)
            #expect(counter.created == 2 * threads)
            local.set(nil)
        }

        @Test("a deinit that sets another ThreadLocal during thread exit: released in the next round")
        func deinitSetsOtherLocal() {
            let counter = LifetimeCounter()
            let first = ThreadLocal<LifetimeTracked<Int>?>()
            let second = ThreadLocal<TrackedPair<Int>?>()
            let threads = StressConfig.scaled(200)
            _ = onNewThreads(count: threads) { i in
                first.value = LifetimeTracked(i, counter: counter) { payload in
                    second.value = TrackedPair(
                        name: "from deinit",
                        tracked: LifetimeTracked(-payload, counter: counter)
                    )
                }
            }
            #expect(counter.live == 0)
            #expect(counter.created == 2 * threads)
        }

        @Test("a deinit that creates, sets and drops a new ThreadLocal during thread exit")
        func deinitCreatesLocal() {
            let counter = LifetimeCounter()
            let kept = Locked<[ThreadLocal<LifetimeTracked<Int>?>]>([])
            let first = ThreadLocal<LifetimeTracked<Int>?>()
            let before = ctl_get_stats().live_slots
            let threads = StressConfig.scaled(100)
            _ = onNewThreads(count: threads) { i in
                first.value = LifetimeTracked(i, counter: counter) { payload in
                    // One variable outlives the thread (its value here is
                    // released in the next round)...
                    let outliving = ThreadLocal<LifetimeTracked<Int>?>()
                    outliving.value = LifetimeTracked(-payload, counter: counter)
                    kept.withLock { $0.append(outliving) }
                    // ...and one is destroyed right here, on the exiting thread.
                    let shortLived = ThreadLocal<LifetimeTracked<Int>?>()
                    shortLived.value = LifetimeTracked(payload + 1_000_000, counter: counter)
                }
            }
            #expect(counter.live == 0)
            #expect(counter.created == 3 * threads)
            #expect(kept.withLock { $0.count } == threads)
            kept.withLock { $0 = [] }
            #expect(ctl_get_stats().live_slots <= before)
        }

        @Test(
            "a chain of deinits that store into their ThreadLocal: one link per exit sweep, the last goes with the variable"
        )
        func deinitStoresAChain() {
            for limit in [3, 8, .max] {
                let counter = LifetimeCounter()
                let local = Late<ThreadLocal<LifetimeTracked<Int>?>>()
                local.set(ThreadLocal())
                // Each value's deinit stores the next link; each exit sweep
                // releases one. A link stored in the last exit sweep is
                // left when the thread ends, and released with the variable.
                onNewThread { local.get.value = chainLink(0, limit: limit, into: local, counter: counter) }
                let rounds = Int(CTL_EXIT_SWEEPS)
                #expect(counter.created == min(limit, rounds + 1))
                #expect(counter.live == (limit > rounds ? 1 : 0))
                local.set(nil)
                #expect(counter.live == 0)
                #expect(counter.created == min(limit, rounds + 1))
            }
        }
    }
}

extension Stress.Reentrancy {
    /// Another library's pthread key, created after the store's, so that the
    /// C library runs its destructor after the store has torn the thread
    /// down; the destructor assigns a `ThreadLocal` (on a thread that stored
    /// values before, and on one whose first store it is).
    @Test("a value assigned by another library's pthread-key destructor after the thread's teardown is released")
    func assignmentFromALaterPthreadKeyDestructor() {
        for storedBefore in [true, false] {
            let counter = LifetimeCounter()
            let local = ThreadLocal<LifetimeTracked<Int>?>()
            let other = ThreadLocal { 0 }
            lateAssignment.withLock { $0 = (local, counter) }
            var key = pthread_key_t()
            #expect(pthread_key_create(&key, { _ in assignFromKeyDestructor() }) == 0)
            let handle = key
            onNewThread {
                if storedBefore { other.value += 1 }
                pthread_setspecific(handle, UnsafeRawPointer(bitPattern: 1))
            }
            #expect(counter.created == 1)
            #expect(counter.live == 0)
            pthread_key_delete(key)
            lateAssignment.withLock { $0 = nil }
        }
    }
}

extension Stress.Reentrancy {
    /// A per-thread object that owns a thread-local the thread used: at exit,
    /// releasing it destroys another slot that the same thread holds a value
    /// in. The thread must finish exiting (it once waited for itself).
    @Test(
        "a per-thread object that owns a ThreadLocal or a counter the thread used: the thread finishes exiting",
        .timeLimit(.minutes(1))
    )
    func perThreadObjectOwningAThreadLocal() {
        final class Holder: Sendable {
            let inner = ThreadLocal { 0 }
            let requests = ThreadLocalCounter()
        }
        let outer = ThreadLocal<Holder?>()
        let counted = onNewThreads(count: 8) { _ in
            let holder = Holder()
            holder.inner.value += 1
            holder.requests.increment()
            outer.value = holder
            return 1
        }
        #expect(counted.count == 8)
    }

    /// Two variables whose values each own the other variable's... owner:
    /// releasing a value at exit drops the last reference to the other
    /// variable, on two exiting threads at once. Neither may wait for the
    /// other.
    @Test(
        "values whose release at exit drops the last reference to another ThreadLocal, on two threads at once",
        .timeLimit(.minutes(1))
    )
    func crossThreadReleaseAtExit() {
        final class Owner: Sendable {
            let owned: Locked<ThreadLocal<Owner?>?>
            init(_ owned: ThreadLocal<Owner?>?) { self.owned = Locked(owned) }
        }
        for _ in 0..<50 {
            let a = Locked<ThreadLocal<Owner?>?>(ThreadLocal<Owner?>())
            let b = Locked<ThreadLocal<Owner?>?>(ThreadLocal<Owner?>())
            let ready = DispatchSemaphore(value: 0)
            let go = DispatchSemaphore(value: 0)
            // Threads 0 and 1 hold values in both variables; thread 2 drops
            // the variables once they have, so that the values hold the only
            // references, then lets them exit together. onNewThreads joins
            // all three: a wait cycle at exit would hang here.
            _ = onNewThreads(count: 3) { i in
                if i == 2 {
                    ready.wait()
                    ready.wait()
                    a.withLock { $0 = nil }
                    b.withLock { $0 = nil }
                    go.signal()
                    go.signal()
                    return 0
                }
                let mine = (i == 0 ? a : b).withLock { $0 }!
                let theirs = (i == 0 ? b : a).withLock { $0 }!
                mine.value = Owner(theirs)
                theirs.value = Owner(mine)
                ready.signal()
                go.wait()
                return 0
            }
        }
    }
}

/// What `assignFromKeyDestructor` assigns to.
private let lateAssignment = Locked<(ThreadLocal<LifetimeTracked<Int>?>, LifetimeCounter)?>(nil)

private func assignFromKeyDestructor() {
    guard let (local, counter) = lateAssignment.withLock({ $0 }) else { return }
    local.value = LifetimeTracked(7, counter: counter)
}

/// A value whose deinit stores the next link of the chain into `local`, until
/// `limit` links were made.
@Sendable
private func chainLink(
    _ generation: Int,
    limit: Int,
    into late: Late<ThreadLocal<LifetimeTracked<Int>?>>,
    counter: LifetimeCounter
) -> LifetimeTracked<Int> {
    LifetimeTracked(generation, counter: counter) { generation in
        if generation + 1 < limit, let local = late.getIfSet {
            local.value = chainLink(generation + 1, limit: limit, into: late, counter: counter)
        }
    }
}

/// A reference that closures can capture before it is set (to build values
/// whose deinitializers use the variable that holds them).
final class Late<Object: AnyObject & Sendable>: @unchecked Sendable {
    // Sendable: set before the threads that read it start, and after they end.
    private var object: Object?
    init() {}
    func set(_ object: Object?) {
        // The old object is released after the assignment ends, so that
        // deinitializers it runs may read this reference.
        let old = self.object
        self.object = object
        _ = consume old
    }
    var get: Object { object! }
    var getIfSet: Object? { object }
}
