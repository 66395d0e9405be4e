// SPDX-License-Identifier: Apache-2.0
import CThreadLocals
import Testing
import ThreadLocalsTestSupport

@testable import ThreadLocals

extension Stress {
    /// Many short-lived threads, each setting several thread-locals: every value
    /// is released exactly once, no thread sees another's (or an earlier
    /// thread's) value, and the store's memory does not grow with the number of
    /// threads that came and went.
    @Suite("churn")
    struct Churn {
        /// Threads started at once in each wave: their exits race each other.
        static let wave = 8

        @Test("churn: short-lived threads release every value once, memory stays flat")
        func churn() throws {
            // 5,000 threads in the CI setting, times STRESS_SCALE.
            let totalThreads = StressConfig.scaled(5_000)
            let repetitions = 4
            let perRepetition = (totalThreads / repetitions + Self.wave - 1) / Self.wave * Self.wave
            let counter = LifetimeCounter()

            // Two groups of thread-locals: the first in the lanes (if
            // free), the second beyond `CTL_LANE_COUNT`, in heap chunks,
            // behind 64 slots held only to push them there.
            let inline = Locals(counter: counter)
            var padding: [ctl_slot] = []
            for _ in 0..<CTL_LANE_COUNT {
                var slot = ctl_slot()
                #expect(ctl_slot_create(&slot, nil, nil) == CTL_OK)
                padding.append(slot)
            }
            let overflow = Locals(counter: counter)
            defer { for slot in padding { ctl_slot_destroy(slot) } }
            #expect(overflow.scalar._slot.index >= CTL_LANE_COUNT)

            let baselineThreads = ctl_get_stats().registered_threads
            var heap: [Int] = []
            var resident: [Int] = []
            var registered: [Int] = []
            var failures = 0
            var wavesWithLiveValues = 0
            for _ in 0..<repetitions {
                for waveStart in stride(from: 0, to: perRepetition, by: Self.wave) {
                    let results = onNewThreads(count: Self.wave) { i in
                        let id = waveStart + i + 1
                        return inline.exercise(id: id) && overflow.exercise(id: id)
                    }
                    failures += results.filter { !$0 }.count
                    // pthread_join returns after the thread's destructors ran.
                    if counter.live != 0 { wavesWithLiveValues += 1 }
                }
                registered.append(ctl_get_stats().registered_threads)
                heap.append(heapInUse() ?? 0)
                resident.append(residentBytes() ?? 0)
            }
            let churned = perRepetition * repetitions
            #expect(failures == 0, "threads saw a stale or foreign value")
            #expect(wavesWithLiveValues == 0, "values outlived their threads")
            #expect(counter.live == 0)
            #expect(counter.created == counter.released)
            #expect(counter.created == churned * Locals.trackedPerThread * 2)

            // Other suites run alongside this one and may register threads or
            // grow the heap (a slot table) at any moment; a leak shows in every
            // repetition. So the least figure over the repetitions must stay
            // flat: registered threads, and the heap growth per churned thread
            // (far below one leaked chunk, 1 KiB, or box, 32 bytes).
            let extraThreads = registered.map { $0 - baselineThreads }
            #expect(extraThreads.min()! <= 4, "registered threads above baseline: \(extraThreads)")
            let heapGrowth = zip(heap.dropFirst(), heap).map { $0 - $1 }
            let heapGrowthPerThread = Double(heapGrowth.min()!) / Double(perRepetition)
            if heap.first! > 0 {
                #expect(heapGrowthPerThread < 8, "heap grew by \(heapGrowthPerThread) bytes per thread: \(heap)")
            }
            let residentGrowth = resident.last! - resident.first!
            print(
                """
                churn: \(churned) threads, \(counter.created) values created, \(counter.released) released; \
                registered threads above baseline per repetition \(extraThreads); heap in use \(heap) \
                (\(heapGrowthPerThread) bytes/thread); RSS \(resident) (growth \(residentGrowth) bytes)
                """
            )
        }
    }
}

/// The thread-locals one churned thread sets: class values, a struct holding
/// a class, an array of classes, and scalars stored in the slot itself.
private final class Locals: Sendable {
    static let trackedPerThread = 6
    let counter: LifetimeCounter
    let object: ThreadLocal<LifetimeTracked<Int>>
    let pair = ThreadLocal<TrackedPair<Int>?>()
    let list: ThreadLocal<[LifetimeTracked<Int>]>
    let scalar = ThreadLocal { 0 }
    let real = ThreadLocal { 0.5 }
    let optional = ThreadLocal<LifetimeTracked<Int>?>()

    init(counter: LifetimeCounter) {
        self.counter = counter
        object = ThreadLocal { LifetimeTracked(0, counter: counter) }
        list = ThreadLocal { [] }
    }

    /// Runs on a fresh thread; false if any check failed.
    func exercise(id: Int) -> Bool {
        // A fresh thread has no value in any of them, whatever thread ran in
        // the same TLS block before.
        guard !object.hasValue, !pair.hasValue, !list.hasValue, !scalar.hasValue, !real.hasValue,
            !optional.hasValue
        else { return false }
        var ok = object.value.payload == 0  // 1 created lazily
        object.value = LifetimeTracked(id, counter: counter)  // 1 created, the lazy one released
        pair.value = TrackedPair(name: "t", tracked: LifetimeTracked(id, counter: counter))  // 1
        list.value.append(LifetimeTracked(id, counter: counter))  // 2
        list.withValue { $0.append(LifetimeTracked(-id, counter: counter)) }
        ok = ok && scalar.value == 0
        scalar.value += id
        real.value *= Double(id)
        optional.value = LifetimeTracked(id, counter: counter)  // 1
        if id % 3 == 0 {
            optional.reset()
        }
        ok = ok && object.value.payload == id && pair.value?.tracked.payload == id
        ok = ok && list.value.map(\.payload) == [id, -id] && scalar.value == id && real.value == 0.5 * Double(id)
        ok = ok && (id % 3 == 0 ? !optional.hasValue : optional.value?.payload == id)
        return ok
    }
}
