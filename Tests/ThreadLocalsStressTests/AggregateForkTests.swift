// SPDX-License-Identifier: Apache-2.0
import Synchronization
import Testing
import ThreadLocals
import ThreadLocalsTestSupport

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

#if canImport(Glibc) || canImport(Musl)
    extension Stress {
        /// fork() and the per-thread aggregates: no fork handler, and a child
        /// copy of each aggregate as the parent's was at the fork (the rule:
        /// PerThreadAggregates.md, "Child processes").
        ///
        /// The children do only what the checks need: no printing, no
        /// Foundation, and nothing the parent did not do first (so that no
        /// Swift metadata is created in the child, which another thread might
        /// have been creating at the fork).
        @Suite("aggregates across fork")
        struct AggregateFork {
            /// A child forked while other threads have cells but hold no lock
            /// of the aggregates: it keeps every thread's cells (the sums are
            /// the parent's) and can update and read.
            @Test("a child forked while no other thread holds an aggregate keeps every cell and can update")
            func childKeepsEveryCell() {
                let aggregates = Aggregates()
                aggregates.touchAll()
                let parked = ThreadBarrier(count: 4)
                let threads = (0..<3).map { _ in
                    startThread {
                        aggregates.touchAll()
                        parked.wait()  // A: every thread has its cells
                        parked.wait()  // B: the fork is done
                    }
                }
                parked.wait()  // A
                let sum = aggregates.counter.sum()
                let pairs = aggregates.pairs.combined()
                #expect(aggregates.tracked.values.count == 4)
                #expect(aggregates.counter.threadCount == 4)
                #expect(aggregates.pairs.threadCount == 4)
                let pid = fork()
                if pid == 0 {
                    _exit(aggregates.checkInChild(sum: sum, pairs: pairs, threads: 4))
                }
                #expect(pid > 0)
                let problem = pid > 0 ? waitForChild(pid, seconds: 10) : nil
                #expect(problem == nil, "child \(problem ?? "")")
                // The parent is untouched.
                #expect(aggregates.counter.sum() == sum)
                #expect(aggregates.pairs.combined() == pairs)
                parked.wait()  // B
                threads.forEach(joinThread)
                #expect(aggregates.counter.sum() == sum)
                #expect(aggregates.pairs.combined() == pairs)
                #expect(aggregates.counter.threadCount == 1)
            }

            /// Creating and using aggregates installs no fork handler: fork()
            /// returns while another thread is inside an update, holding its
            /// cell's lock. (A prepare handler that locked the cells would
            /// wait for that update, which here waits for the fork to return:
            /// the update gives up after 10 s, and the test sees that.)
            @Test("fork() does not wait for another thread's update in progress")
            func forkDoesNotWaitForUpdates() {
                let aggregates = Aggregates()
                aggregates.touchAll()
                let inside = Atomic<Bool>(false)
                let forked = Atomic<Bool>(false)
                let sawFork = Atomic<Bool>(false)
                let updater = startThread {
                    aggregates.pairs.update { pair in
                        inside.store(true, ordering: .releasing)
                        var waits = 0
                        while !forked.load(ordering: .acquiring) && waits < 10_000 {
                            usleep(1000)
                            waits += 1
                        }
                        sawFork.store(forked.load(ordering: .acquiring), ordering: .relaxed)
                        pair.add()
                    }
                }
                while !inside.load(ordering: .acquiring) { usleep(100) }
                let pid = fork()
                if pid == 0 { _exit(0) }
                forked.store(true, ordering: .releasing)
                joinThread(updater)
                #expect(pid > 0)
                let problem = pid > 0 ? waitForChild(pid, seconds: 10) : nil
                #expect(problem == nil, "child \(problem ?? "")")
                let forkReturnedDuringUpdate = sawFork.load(ordering: .relaxed)
                #expect(forkReturnedDuringUpdate, "fork() waited for the update in progress")
                #expect(aggregates.pairs.combined().count == 2)
            }
        }
    }

    /// One of each aggregate.
    private final class Aggregates: Sendable {
        let tracked = TrackedThreadLocal { Marker() }
        let counter = ThreadLocalCounter()
        let pairs = ThreadLocalAccumulator(initial: Pair()) { $0.merge($1) }

        /// Gives the calling thread a value or cell in each.
        func touchAll() {
            _ = tracked.value
            counter.increment(by: 5)
            pairs.update { $0.add() }
        }

        /// The child's checks; returns its exit status.
        func checkInChild(sum: Int, pairs expected: Pair, threads: Int) -> Int32 {
            if tracked.values.count != threads { return 11 }
            if counter.threadCount != threads || pairs.threadCount != threads { return 12 }
            if counter.sum() != sum { return 13 }
            if pairs.combined() != expected { return 14 }
            counter.increment()
            if counter.sum() != sum + 1 { return 15 }
            pairs.update { $0.add() }
            if pairs.combined().count != expected.count + 1 { return 16 }
            return 0
        }
    }

    private final class Marker: Sendable {}

    private struct Pair: Sendable, Equatable {
        var count = 0
        var doubled = 0

        mutating func add() {
            count += 1
            doubled += 2
        }

        mutating func merge(_ other: Pair) {
            count += other.count
            doubled += other.doubled
        }
    }

    /// Waits for `pid`; kills it if it has not exited after `seconds` (a
    /// deadlock in the child). Returns nil for a clean exit, else what went
    /// wrong.
    private func waitForChild(_ pid: pid_t, seconds: Int) -> String? {
        var status: Int32 = 0
        for _ in 0..<(seconds * 1000) {
            if waitpid(pid, &status, WNOHANG) == pid {
                if status == 0 { return nil }
                if status & 0x7f == 0 { return "exited with \((status >> 8) & 0xff)" }
                return "killed by signal \(status & 0x7f)"
            }
            usleep(1000)
        }
        kill(pid, SIGKILL)
        waitpid(pid, &status, 0)
        return "hung (killed after \(seconds) s)"
    }
#endif
