// SPDX-License-Identifier: Apache-2.0
import CThreadLocals
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
    /// Teardown against teardown: a variable going away while threads holding
    /// its values exit, and slots destroyed and re-created while other threads
    /// read and write. Run under ThreadSanitizer in CI.
    @Suite("teardown races")
    struct TeardownRaces {
        @Test("a ThreadLocal deinitialized while threads holding its values exit")
        func deinitWhileThreadsExit() {
            let rounds = StressConfig.scaled(2_000)
            let threads = 4
            let seed = StressConfig.replaySeed ?? StressConfig.freshSeed()
            var random = SeededGenerator(seed: seed)
            let counter = LifetimeCounter()
            var aliveAfterJoin = 0
            for round in 0..<rounds {
                // Slow deinitializers widen the window in which the exiting
                // threads are still releasing values when `deinit` runs.
                let slowness = Int.random(in: 0...3, using: &random) * 2_000
                var local: ThreadLocal<LifetimeTracked<Int>?>? = ThreadLocal()
                let barrier = ThreadBarrier(count: threads + 1)
                var ids: [pthread_t] = []
                for i in 0..<threads {
                    // Each thread drops its reference before the barrier, so
                    // that this thread's is the last one.
                    let handoff = Handoff(local)
                    ids.append(
                        startThread {
                            handoff.take()!.value = LifetimeTracked(round * 10 + i, counter: counter) { _ in
                                spin(slowness)
                            }
                            barrier.wait()
                        }
                    )
                }
                barrier.wait()
                spin(Int.random(in: 0...20_000, using: &random))
                // deinit: values that the exiting threads are releasing at
                // this moment are released by them; joining waits for that.
                local = nil
                for id in ids { pthread_join(id, nil) }
                if counter.live != 0 { aliveAfterJoin += 1 }
            }
            #expect(aliveAfterJoin == 0, "values alive after deinit and the joins (seed \(seed))")
            #expect(counter.live == 0)
            #expect(counter.created == rounds * threads)
            #expect(counter.released == counter.created)
            print("teardown race (deinit vs exit): \(rounds) rounds x \(threads) exiting threads, seed \(seed)")
        }

        @Test("slots destroyed and re-created while other threads read and write")
        func slotChurnWhileOthersReadAndWrite() {
            let iterations = StressConfig.scaled(40_000)
            let workers = 3
            let counter = LifetimeCounter()
            let stable = ThreadLocal<LifetimeTracked<Int>?>()
            let current = Locked<Churned?>(Churned(id: 0))
            let stop = Atomic<Bool>(false)
            let churns = Atomic<Int>(0)

            let churner = startThread {
                var id = 1
                while !stop.load(ordering: .relaxed) {
                    // Swap in a new variable; the old one is destroyed by
                    // whichever thread drops the last reference.
                    current.withLock { $0 = Churned(id: id) }
                    id += 1
                    // Raw slots too, with a destructor, set on this thread:
                    // the slot table grows and numbers are reused.
                    var slot = ctl_slot()
                    if ctl_slot_create(&slot, nil, nil) == CTL_OK {
                        _ = ctl_set_i64(slot, Int64(id))
                        ctl_slot_destroy(slot)
                    }
                    churns.add(1, ordering: .relaxed)
                }
            }
            let failures = onNewThreads(count: workers) { worker -> [String] in
                var failures: [String] = []
                var written: [Int: Int] = [:]  // Churned id -> payload this thread stored
                for i in 0..<iterations {
                    let token = (worker + 1) * 10_000_000 + i
                    stable.value = LifetimeTracked(token, counter: counter)
                    guard let churned = current.withLock({ $0 }) else { continue }
                    if let payload = written[churned.id] {
                        if churned.local.value?.payload != payload {
                            failures.append("variable \(churned.id) lost this thread's value \(payload)")
                        }
                    } else if churned.local.hasValue {
                        failures.append("new variable \(churned.id) shows a stale value")
                    }
                    churned.local.value = LifetimeTracked(token, counter: counter)
                    written[churned.id] = token
                    if stable.value?.payload != token { failures.append("stable value changed under us") }
                    if failures.count > 10 { break }
                }
                return failures
            }.flatMap { $0 }
            stop.store(true, ordering: .relaxed)
            pthread_join(churner, nil)
            current.withLock { $0 = nil }
            #expect(failures.isEmpty, "\(failures.prefix(10))")
            #expect(counter.live == 0)
            #expect(counter.released == counter.created)
            print(
                "teardown race (slot churn): \(churns.load(ordering: .relaxed)) variables and slots destroyed and re-created "
                    + "while \(workers) threads did \(iterations) read/write rounds each"
            )
        }
    }
}

/// One reference handed to a thread, which takes it once.
private final class Handoff<Object: AnyObject & Sendable>: @unchecked Sendable {
    // Sendable: written before the thread starts, taken once by that thread.
    private var object: Object?
    init(_ object: Object?) { self.object = object }
    func take() -> Object? {
        defer { object = nil }
        return object
    }
}

private final class Churned: Sendable {
    let id: Int
    let local = ThreadLocal<LifetimeTracked<Int>?>()
    init(id: Int) { self.id = id }
}
