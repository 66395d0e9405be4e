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
