// SPDX-License-Identifier: Apache-2.0
import Testing
import ThreadLocals
import ThreadLocalsTestSupport

extension Stress.Reentrancy {
    /// An object that caches its own thread-locals: each link of a finite
    /// chain holds both variables, and its `deinit` stores the next link into
    /// the other one. The whole chain is released at the thread's exit,
    /// whatever its length (the store sweeps until a sweep releases nothing),
    /// and nothing then keeps the variables alive.
    @Test(
        "a finite chain of deinits that store into another ThreadLocal is released at the thread's exit",
        arguments: [2, 8, 12, 100]
    )
    func finiteChainAcrossTwoLocals(depth: Int) {
        let counter = LifetimeCounter()
        var first: ThreadLocal<ChainLink?>? = ThreadLocal()
        var second: ThreadLocal<ChainLink?>? = ThreadLocal()
        weak let weakFirst = first
        weak let weakSecond = second
        // The test keeps no reference to a link: the thread takes the first.
        let start = Locked<ChainLink?>(ChainLink(0, depth: depth, into: first!, other: second!, counter: counter))
        onNewThread {
            let link = start.withLock { link in
                defer { link = nil }
                return link!
            }
            link.here.value = link
        }
        #expect(counter.created == depth)
        #expect(counter.live == 0, "links left after the thread's exit (depth \(depth))")
        first = nil
        second = nil
        #expect(weakFirst == nil && weakSecond == nil, "a link left behind keeps its variables alive")
    }
}

extension Stress.Reentrancy {
    /// A per-thread buffer flushed by its `deinit`, which looks at the same
    /// variable with `valueIfPresent` (never creating a value): over 200
    /// thread exits, one initializer run per thread and nothing left.
    @Test("a flush-on-deinit through its own ThreadLocal, with valueIfPresent: 200 exits, nothing re-created or kept")
    func flushOnDeinitWithValueIfPresent() {
        let counter = LifetimeCounter()
        let sawOwnValue = Locked(0)
        let buffer = Late<ThreadLocal<FlushingBuffer>>()
        buffer.set(
            ThreadLocal {
                FlushingBuffer(counter: counter) {
                    if buffer.getIfSet?.valueIfPresent != nil { sawOwnValue.withLock { $0 += 1 } }
                }
            }
        )
        for _ in 0..<200 {
            onNewThread { buffer.get.value.lines.append("line") }
        }
        #expect(counter.created == 200)
        #expect(counter.live == 0)
        #expect(sawOwnValue.withLock { $0 } == 0)
        buffer.set(nil)
    }

    /// A deinit at exit that reads (not just looks at) another variable whose
    /// value the exit already released gets one new value, which is released
    /// before the thread is gone: at most one extra initializer run, nothing
    /// kept.
    @Test("a deinit at exit that reads another released ThreadLocal: one new value, released at exit")
    func readOfAnotherReleasedVariableAtExit() {
        let counter = LifetimeCounter()
        let logger = ThreadLocal { LifetimeTracked(0, counter: counter) }
        let jobs = ThreadLocal {
            FlushingBuffer(counter: counter) { _ = logger.value.payload }
        }
        for _ in 0..<50 {
            onNewThread {
                _ = logger.value
                jobs.value.lines.append("job")
            }
        }
        // Per thread: the logger, the job buffer, and at most one new logger
        // if the exit released the logger first.
        #expect(counter.created >= 100 && counter.created <= 150)
        #expect(counter.live == 0)
    }
}

/// A buffer whose deinit runs `flush`.
final class FlushingBuffer: @unchecked Sendable {
    // Sendable: used by one thread at a time (its own).
    var lines: [String] = []
    let tracked: LifetimeTracked<Int>
    let flush: @Sendable () -> Void
    init(counter: LifetimeCounter, flush: @escaping @Sendable () -> Void) {
        self.tracked = LifetimeTracked(0, counter: counter)
        self.flush = flush
    }
    deinit { flush() }
}

/// A link of the chain: stored in `here`; its `deinit` stores the next link
/// into `there` until `depth` links were made.
final class ChainLink: Sendable {
    let tracked: LifetimeTracked<Int>
    let here: ThreadLocal<ChainLink?>
    let there: ThreadLocal<ChainLink?>
    let depth: Int

    init(
        _ position: Int,
        depth: Int,
        into here: ThreadLocal<ChainLink?>,
        other there: ThreadLocal<ChainLink?>,
        counter: LifetimeCounter
    ) {
        self.tracked = LifetimeTracked(position, counter: counter)
        self.here = here
        self.there = there
        self.depth = depth
    }

    deinit {
        let next = tracked.payload + 1
        if next < depth {
            there.value = ChainLink(next, depth: depth, into: there, other: here, counter: tracked.counter)
        }
    }
}
