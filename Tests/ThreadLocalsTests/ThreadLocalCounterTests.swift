// SPDX-License-Identifier: Apache-2.0
import CThreadLocals
import Synchronization
import Testing
import ThreadLocalsTestSupport

@testable import ThreadLocals

@Suite("ThreadLocalCounter")
struct ThreadLocalCounterTests {
    @Test func startsAtZeroAndCountsOnOneThread() {
        let counter = ThreadLocalCounter()
        #expect(counter.sum() == 0)
        #expect(counter.threadCount == 0)
        counter.increment()
        counter.increment(by: 41)
        counter.decrement(by: 2)
        #expect(counter.sum() == 40)
        #expect(counter.threadCount == 1)
    }

    /// N threads × M increments, every thread exited: nothing was lost in the
    /// fold at thread exit.
    @Test func sumIsExactAfterEveryThreadExited() {
        let counter = ThreadLocalCounter()
        let threads = 8
        let increments = 20_000
        _ = onNewThreads(count: threads) { _ in
            for _ in 0..<increments { counter.increment() }
        }
        #expect(counter.sum() == threads * increments)
        #expect(counter.threadCount == 0)  // every cell was folded and unregistered
    }

    /// Half the threads exit mid-way while the other half keep their cells:
    /// the sum is exact at both points, and counts each thread once.
    @Test func sumIncludesThreadsThatExitedMidway() {
        let counter = ThreadLocalCounter()
        let increments = 10_000
        let stayers = 4
        let leavers = 4
        let barrier = ThreadBarrier(count: stayers + 1)
        let staying = (0..<stayers).map { _ in
            startThread {
                for _ in 0..<increments { counter.increment() }
                barrier.wait()  // A: done with the first half
                barrier.wait()  // B: the main thread has checked
                for _ in 0..<increments { counter.increment() }
            }
        }
        let leaving = (0..<leavers).map { _ in
            startThread {
                for _ in 0..<increments { counter.increment() }
            }
        }
        leaving.forEach(joinThread)
        barrier.wait()  // A
        #expect(counter.sum() == (stayers + leavers) * increments)
        #expect(counter.threadCount == stayers)
        barrier.wait()  // B
        staying.forEach(joinThread)
        #expect(counter.sum() == (2 * stayers + leavers) * increments)
        #expect(counter.threadCount == 0)
    }

    /// Many short-lived threads, a few at a time, next to one long-lived one.
    @Test func sumIsExactUnderThreadChurn() {
        let counter = ThreadLocalCounter()
        let rounds = 150
        let perRound = 3
        let increments = 1_000
        let longLived = startThread {
            for _ in 0..<(rounds * increments) { counter.increment() }
        }
        for _ in 0..<rounds {
            _ = onNewThreads(count: perRound) { index in
                for _ in 0..<increments { counter.increment(by: index + 1) }
            }
        }
        joinThread(longLived)
        let perRoundSum = (1...perRound).reduce(0, +) * increments
        #expect(counter.sum() == rounds * perRoundSum + rounds * increments)
    }

    /// A reader calls `sum()` without pause while threads increment and exit:
    /// every read is at most the final total and never less than the read
    /// before it (each exiting thread is counted exactly once, at every
    /// instant).
    @Test func concurrentSumIsMonotonicWhileThreadsComeAndGo() {
        let counter = ThreadLocalCounter()
        let rounds = 400
        let perRound = 2
        let increments = 500
        let total = rounds * perRound * increments
        let report = pollWhile({ counter.sum() }) {
            for _ in 0..<rounds {
                _ = onNewThreads(count: perRound) { _ in
                    for _ in 0..<increments { counter.increment() }
                }
            }
        }
        #expect(report.reads >= 100)  // the reader did run alongside
        #expect(report.decreases == 0)
        #expect(report.largest <= total)
        #expect(report.last == total)
    }

    /// Deinitializers that run during a thread's teardown, before and after the
    /// counter's own cell is released, and in later rounds, may increment:
    /// every such increment is counted.
    @Test func incrementsDuringThreadTeardownAreCounted() {
        let before = ThreadLocal<TeardownChain?> { nil }  // its slot precedes the counter's
        let counter = ThreadLocalCounter()
        let after = ThreadLocal<TeardownChain?> { nil }  // its slot follows
        let expected = onNewThreads(count: 4) { _ in
            counter.increment()
            // Each link's deinit increments, then stores the next link, which
            // the store releases in the next round.
            before.value = TeardownChain(depth: 2, variable: before, counter: counter)
            after.value = TeardownChain(depth: 2, variable: after, counter: counter)
            return 1 + 3 + 3
        }
        #expect(counter.sum() == expected.reduce(0, +))
        #expect(counter.threadCount == 0)
    }

    @Test func sumThenResetStartsAgainFromZero() {
        let counter = ThreadLocalCounter()
        counter.increment(by: 5)
        onNewThread { counter.increment(by: 7) }  // exited: folded into the total
        #expect(counter.sumThenReset() == 12)
        #expect(counter.sum() == 0)
        #expect(counter.threadCount == 1)  // the running thread keeps its cell
        counter.increment()
        onNewThread { counter.increment(by: 2) }
        #expect(counter.sum() == 3)
        counter.reset()
        #expect(counter.sum() == 0)
        #expect(counter.sumThenReset() == 0)
    }

    /// Threads increment and exit while another thread takes the sum and
    /// resets it, again and again: every increment is counted exactly once,
    /// in one of the sums taken or in what is left.
    @Test func sumThenResetIsExactUnderConcurrentIncrements() {
        let counter = ThreadLocalCounter()
        let run = takeWhileThreadsUpdate(updatesPerThread: 20_000) {
            counter.sumThenReset()
        } update: {
            counter.increment()
        }
        #expect(run.takes > 10)  // the resets did run alongside
        #expect(run.taken + counter.sum() == run.updates)
    }

    /// Dropping the counter while threads that incremented it still run frees
    /// their cells (ASan reports a leak otherwise) and leaves them unharmed.
    @Test func deinitWhileThreadsStillRun() {
        let barrier = ThreadBarrier(count: 5)
        let box = CounterBox(ThreadLocalCounter())
        let threads = (0..<4).map { _ in
            startThread {
                box.counter?.increment()
                barrier.wait()  // A: every thread has a cell
                barrier.wait()  // B: the counter is gone
            }
        }
        barrier.wait()  // A
        #expect(box.counter?.sum() == 4)
        box.drop()  // the last reference: deinit runs here
        barrier.wait()  // B
        threads.forEach(joinThread)
    }

    /// Each thread's cell is alone on a 128-byte aligned block.
    @Test func cellsArePaddedToTheirOwnCacheLines() {
        let counter = ThreadLocalCounter()
        let barrier = ThreadBarrier(count: 4)
        let addresses = onNewThreads(count: 4) { _ in
            counter.increment()
            barrier.wait()  // all cells alive at once, so none reuses another's memory
            return Int(bitPattern: ctl_value_pointer(counter._slot)!.pointee.ptr)
        }
        let sorted = addresses.sorted()
        #expect(sorted.allSatisfy { $0 % 128 == 0 })
        #expect(zip(sorted, sorted.dropFirst()).allSatisfy { $1 - $0 >= 128 })
    }
}

/// A value that increments a counter when released, then stores a shorter
/// chain in the same thread-local: a deinit that runs in every round of a
/// thread's teardown.
final class TeardownChain: Sendable {
    let depth: Int
    let variable: ThreadLocal<TeardownChain?>
    let counter: ThreadLocalCounter

    init(depth: Int, variable: ThreadLocal<TeardownChain?>, counter: ThreadLocalCounter) {
        self.depth = depth
        self.variable = variable
        self.counter = counter
    }

    deinit {
        counter.increment()
        if depth > 0 {
            variable.value = TeardownChain(depth: depth - 1, variable: variable, counter: counter)
        }
    }
}

/// Hands a counter to threads, then drops it.
final class CounterBox: Sendable {
    private let stored: Locked<ThreadLocalCounter?>
    init(_ counter: ThreadLocalCounter) { stored = Locked(counter) }
    var counter: ThreadLocalCounter? { stored.withLock { $0 } }
    func drop() { stored.withLock { $0 = nil } }
}
