// SPDX-License-Identifier: Apache-2.0
import Synchronization
import Testing
import ThreadLocals
import ThreadLocalsTestSupport

/// A per-thread object that other threads may read: its fields are atomics.
final class Slot: Sendable {
    let owner: Int
    let hits = Atomic<Int>(0)
    let tracked: LifetimeTracked<Int>

    init(owner: Int, lifetimes: LifetimeCounter) {
        self.owner = owner
        self.tracked = LifetimeTracked(owner, counter: lifetimes)
    }
}

/// Which thread's `Slot` the initial-value closure is creating.
private let threadNumber = ThreadLocal { -1 }

@Suite("TrackedThreadLocal")
struct TrackedThreadLocalTests {
    @Test func eachThreadHasItsOwnStableValue() {
        let lifetimes = LifetimeCounter()
        let slots = TrackedThreadLocal { Slot(owner: threadNumber.value, lifetimes: lifetimes) }
        let mine = slots.value
        #expect(slots.value === mine)
        #expect(slots.withValue { $0 === mine })
        let barrier = ThreadBarrier(count: 3)
        let others = onNewThreads(count: 3) { index in
            threadNumber.value = index
            let identifier = ObjectIdentifier(slots.value)
            barrier.wait()  // all alive at once, so no object's memory is reused
            return identifier
        }
        #expect(Set(others).count == 3)
        #expect(!others.contains(ObjectIdentifier(mine)))
    }

    /// After some threads exited, visiting sees exactly the running ones, and
    /// what they wrote through their own value.
    @Test func visitingSeesExactlyTheLiveThreads() {
        let lifetimes = LifetimeCounter()
        let slots = TrackedThreadLocal { Slot(owner: threadNumber.value, lifetimes: lifetimes) }
        let barrier = ThreadBarrier(count: 4)
        let staying = (0..<3).map { index in
            startThread {
                threadNumber.value = 10 + index
                slots.value.hits.add(index + 1, ordering: .relaxed)
                barrier.wait()  // A: created
                barrier.wait()  // B: checked
            }
        }
        _ = onNewThreads(count: 3) { index in
            threadNumber.value = index
            slots.withValue { _ = $0.hits.add(1, ordering: .relaxed) }
        }
        barrier.wait()  // A
        var seen: [Int: Int] = [:]
        slots.forEachValue { seen[$0.owner] = $0.hits.load(ordering: .relaxed) }
        #expect(seen == [10: 1, 11: 2, 12: 3])
        #expect(lifetimes.live == 3)  // the exited threads' values were released
        barrier.wait()  // B
        staying.forEach(joinThread)
        #expect(slots.values.isEmpty)
        #expect(lifetimes.live == 0)
        #expect(lifetimes.created == 6)
    }

    /// Threads whose initial-value closure returned the same object each keep
    /// their own entry: `values` lists the object once per running thread,
    /// and one thread's exit leaves the other's entry.
    @Test func threadsSharingOneObjectEachKeepTheirEntry() {
        let lifetimes = LifetimeCounter()
        let shared = Slot(owner: 0, lifetimes: lifetimes)
        let slots = TrackedThreadLocal { shared }
        let barrier = ThreadBarrier(count: 3)
        let afterFirst = ThreadBarrier(count: 2)
        let first = startThread {
            _ = slots.value
            barrier.wait()  // A: both have a value
            barrier.wait()  // B: checked
        }
        let second = startThread {
            _ = slots.value
            barrier.wait()  // A
            barrier.wait()  // B
            afterFirst.wait()  // C: the first one exited, checked
        }
        barrier.wait()  // A
        #expect(slots.values.count == 2)
        #expect(slots.values.allSatisfy { $0 === shared })
        barrier.wait()  // B
        joinThread(first)
        #expect(slots.values.count == 1)
        afterFirst.wait()  // C
        joinThread(second)
        #expect(slots.values.isEmpty)
        #expect(lifetimes.live == 1)  // still held by `shared`
    }

    /// `forEachValue` runs its body with no lock held: it may use the same
    /// `TrackedThreadLocal`, here creating the calling thread's value.
    @Test func visitorMayUseTheSameTrackedThreadLocal() {
        let lifetimes = LifetimeCounter()
        let slots = TrackedThreadLocal { Slot(owner: threadNumber.value, lifetimes: lifetimes) }
        onNewThread { _ = slots.value }  // a value whose thread then exits
        let helper = TrackedHelper(slots)
        let other = startThread { helper.createAndWait() }
        helper.created.wait()
        var visited = 0
        slots.forEachValue { _ in
            visited += 1
            _ = slots.value  // registers this thread: takes the lock
        }
        #expect(visited == 1)
        #expect(slots.values.count == 2)
        helper.release.wait()
        joinThread(other)
    }

    /// `reset()` releases the calling thread's value and removes it from
    /// `values`; the next access makes a new one; other threads keep theirs.
    @Test func resetDropsThisThreadsValue() {
        let lifetimes = LifetimeCounter()
        let slots = TrackedThreadLocal { Slot(owner: threadNumber.value, lifetimes: lifetimes) }
        let barrier = ThreadBarrier(count: 2)
        let other = startThread {
            _ = slots.value
            barrier.wait()  // A: it has a value
            barrier.wait()  // B: checked
        }
        barrier.wait()  // A
        slots.reset()  // no value on this thread: nothing happens
        #expect(slots.withValue { $0.owner } == -1)
        #expect(slots.values.count == 2)
        #expect(lifetimes.live == 2)
        slots.reset()
        #expect(lifetimes.live == 1)  // released now, on this thread
        #expect(slots.values.count == 1)
        threadNumber.value = 7
        #expect(slots.value.owner == 7)  // a new value, from the initial-value closure
        #expect(lifetimes.created == 3)
        barrier.wait()  // B
        joinThread(other)
        slots.reset()
        #expect(slots.values.isEmpty)
        #expect(lifetimes.live == 0)
        threadNumber.value = -1
    }

    /// Deinitializing the tracked thread-local releases every running
    /// thread's value, on the deinitializing thread, exactly once.
    @Test func deinitReleasesEveryRunningThreadsValue() {
        let lifetimes = LifetimeCounter()
        let barrier = ThreadBarrier(count: 4)
        let box = TrackedBox(TrackedThreadLocal { Slot(owner: threadNumber.value, lifetimes: lifetimes) })
        let threads = (0..<3).map { _ in
            startThread {
                _ = box.tracked?.value
                barrier.wait()  // A: created
                barrier.wait()  // B: released by the deinit
            }
        }
        barrier.wait()  // A
        #expect(lifetimes.live == 3)
        box.drop()
        #expect(lifetimes.live == 0)
        barrier.wait()  // B
        threads.forEach(joinThread)
        #expect(lifetimes.released == 3)
    }
}

final class TrackedHelper: Sendable {
    let slots: TrackedThreadLocal<Slot>
    let created = ThreadBarrier(count: 2)
    let release = ThreadBarrier(count: 2)
    init(_ slots: TrackedThreadLocal<Slot>) { self.slots = slots }
    func createAndWait() {
        _ = slots.value
        created.wait()
        release.wait()
    }
}

final class TrackedBox: Sendable {
    private let stored: Locked<TrackedThreadLocal<Slot>?>
    init(_ tracked: TrackedThreadLocal<Slot>) { stored = Locked(tracked) }
    var tracked: TrackedThreadLocal<Slot>? { stored.withLock { $0 } }
    func drop() { stored.withLock { $0 = nil } }
}
