// SPDX-License-Identifier: Apache-2.0
import Synchronization
import Testing
import ThreadLocals
import ThreadLocalsTestSupport

@Suite("ThreadLocalAccumulator")
struct ThreadLocalAccumulatorTests {
    @Test func startsAtInitialAndUpdatesInPlace() {
        let seen = ThreadLocalAccumulator<Set<Int>>(initial: []) { $0.formUnion($1) }
        #expect(seen.combined() == [])
        let inserted = seen.update { $0.insert(7).inserted }
        #expect(inserted)
        seen.update { $0.insert(8) }
        #expect(seen.combined() == [7, 8])
        #expect(seen.threadCount == 1)
    }

    /// Threads that exit mid-way leave their values in the total; running
    /// threads' values are merged in; each thread counts once.
    @Test func combinedIncludesExitedThreads() {
        let seen = ThreadLocalAccumulator<Set<Int>>(initial: []) { $0.formUnion($1) }
        let barrier = ThreadBarrier(count: 4)
        let staying = (0..<3).map { index in
            startThread {
                seen.update { _ = $0.insert(100 + index) }
                barrier.wait()  // A: inserted
                barrier.wait()  // B: checked
                seen.update { _ = $0.insert(200 + index) }
            }
        }
        _ = onNewThreads(count: 3) { index in
            seen.update { $0.formUnion([index, 10 + index]) }
        }
        barrier.wait()  // A
        #expect(seen.combined() == [0, 1, 2, 10, 11, 12, 100, 101, 102])
        #expect(seen.threadCount == 3)
        barrier.wait()  // B
        staying.forEach(joinThread)
        #expect(seen.combined() == [0, 1, 2, 10, 11, 12, 100, 101, 102, 200, 201, 202])
        #expect(seen.threadCount == 0)
    }

    /// A struct of statistics merged field by field, exact after churn.
    @Test func statisticsAreExactUnderThreadChurn() {
        let stats = ThreadLocalAccumulator(initial: Stats()) { $0.merge($1) }
        let rounds = 100
        let perRound = 3
        let samples = 200
        for _ in 0..<rounds {
            _ = onNewThreads(count: perRound) { index in
                for sample in 0..<samples { stats.update { $0.record(sample * (index + 1)) } }
            }
        }
        let combined = stats.combined()
        #expect(combined.count == rounds * perRound * samples)
        #expect(combined.total == rounds * (1 + 2 + 3) * (0..<samples).reduce(0, +))
        #expect(combined.largest == (samples - 1) * perRound)
    }

    /// `combined()` on one thread while others update and exit: a sum that only
    /// grows is read as never decreasing, and exact at the end.
    @Test func concurrentCombinedIsMonotonic() {
        let sum = ThreadLocalAccumulator(initial: 0) { $0 &+= $1 }
        let rounds = 300
        let perRound = 2
        let updates = 300
        let report = pollWhile({ sum.combined() }) {
            for _ in 0..<rounds {
                _ = onNewThreads(count: perRound) { _ in
                    for _ in 0..<updates { sum.update { $0 &+= 1 } }
                }
            }
        }
        #expect(report.decreases == 0)
        #expect(report.largest <= rounds * perRound * updates)
        #expect(report.last == rounds * perRound * updates)
    }

    /// A class value made by the factory: each thread has its own object, and
    /// `combined()` returns a new one each time.
    @Test func classValuesAreNotShared() {
        let hits = ThreadLocalAccumulator({ Hits() }) { into, next in
            into.count.add(next.count.load(ordering: .relaxed), ordering: .relaxed)
        }
        let barrier = ThreadBarrier(count: 4)
        let threads = (0..<3).map { _ in
            startThread {
                hits.update { $0.count.add(1, ordering: .relaxed) }
                barrier.wait()  // A: each thread added 1
                barrier.wait()  // B: checked
            }
        }
        barrier.wait()  // A
        let running = hits.combined()
        #expect(running.count.load(ordering: .relaxed) == 3)
        barrier.wait()  // B
        threads.forEach(joinThread)
        let exited = hits.combined()
        #expect(exited.count.load(ordering: .relaxed) == 3)
        #expect(hits.combined().count.load(ordering: .relaxed) == 3)
        #expect(running !== exited)
    }

    @Test func combinedThenResetStartsAgainFromInitial() {
        let seen = ThreadLocalAccumulator<Set<Int>>(initial: []) { $0.formUnion($1) }
        seen.update { _ = $0.insert(1) }
        onNewThread { seen.update { _ = $0.insert(2) } }
        #expect(seen.combinedThenReset() == [1, 2])
        #expect(seen.combined() == [])
        #expect(seen.update { $0 } == [])  // this thread's value was reset too
        seen.update { _ = $0.insert(3) }
        #expect(seen.combined() == [3])
        seen.reset()
        #expect(seen.combined() == [])
        #expect(seen.threadCount == 1)
    }

    /// Threads update and exit while another thread takes the combined value
    /// and resets it, again and again: every update is counted exactly once.
    @Test func combinedThenResetIsExactUnderConcurrentUpdates() {
        let sum = ThreadLocalAccumulator(initial: 0) { $0 &+= $1 }
        let run = takeWhileThreadsUpdate(updatesPerThread: 5_000) {
            sum.combinedThenReset()
        } update: {
            sum.update { $0 &+= 1 }
        }
        #expect(run.takes > 10)  // the resets did run alongside
        #expect(run.taken + sum.combined() == run.updates)
    }

    /// Values replaced by a reset are released once, and so are the new ones
    /// when the accumulator goes away.
    @Test func resetReleasesReplacedValuesOnce() {
        let lifetimes = LifetimeCounter()
        do {
            let kept = ThreadLocalAccumulator<[LifetimeTracked<Int>]>(initial: []) { $0 += $1 }
            kept.update { $0.append(LifetimeTracked(1, counter: lifetimes)) }
            onNewThread { kept.update { $0.append(LifetimeTracked(2, counter: lifetimes)) } }
            #expect(kept.combinedThenReset().map(\.payload).sorted() == [1, 2])
            #expect(lifetimes.live == 0)
            kept.update { $0.append(LifetimeTracked(3, counter: lifetimes)) }
            #expect(lifetimes.live == 1)
        }
        #expect(lifetimes.live == 0)
        #expect(lifetimes.created == 3)
    }

    /// Class values held in cells are released once, whether their thread
    /// exited or the accumulator went away first.
    @Test func valuesAreReleasedExactlyOnce() {
        let lifetimes = LifetimeCounter()
        do {
            let kept = ThreadLocalAccumulator<[LifetimeTracked<Int>]>(initial: []) { $0 += $1 }
            _ = onNewThreads(count: 4) { index in
                kept.update { $0.append(LifetimeTracked(index, counter: lifetimes)) }
            }
            kept.update { $0.append(LifetimeTracked(99, counter: lifetimes)) }
            #expect(kept.combined().map(\.payload).sorted() == [0, 1, 2, 3, 99])
            #expect(lifetimes.live == 5)
        }
        #expect(lifetimes.live == 0)
        #expect(lifetimes.created == 5)
    }
}

final class Hits: Sendable {
    let count = Atomic<Int>(0)
}

struct Stats: Sendable, Equatable {
    var count = 0
    var total = 0
    var largest = Int.min

    mutating func record(_ sample: Int) {
        count += 1
        total += sample
        largest = max(largest, sample)
    }

    mutating func merge(_ other: Stats) {
        count += other.count
        total += other.total
        largest = max(largest, other.largest)
    }
}
