// SPDX-License-Identifier: Apache-2.0
import Synchronization
import Testing
import ThreadLocals
import ThreadLocalsTestSupport

extension Stress {
    /// Uses of an aggregate from inside its own closures, which would wait
    /// forever for a lock the thread holds, and the other misuses of the
    /// aggregates: each stops the program with a message that names the
    /// misuse and the caller's file and line. Each runs in a child process
    /// (an exit test), as in `MisuseTests`.
    @Suite("aggregate misuse")
    struct AggregateMisuse {
        @Test("update inside update stops with a message")
        func updateInsideUpdate() async {
            let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
                updateInsideUpdateInChild()
            }
            expectStop(
                result,
                "ThreadLocalAccumulator<Int> update was called inside update or merge on the same thread"
            )
        }

        @Test("combined() inside update stops with a message")
        func combinedInsideUpdate() async {
            let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
                combinedInsideUpdateInChild()
            }
            expectStop(
                result,
                "ThreadLocalAccumulator<Int> combined() or reset() was called inside update on the same thread"
            )
        }

        @Test("update inside merge stops with a message, whatever is being merged")
        func updateInsideMerge() async {
            let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
                updateInsideMergeInChild()
            }
            expectStop(
                result,
                "ThreadLocalAccumulator<Int> update was called inside update or merge on the same thread"
            )
        }

        @Test("a thread's first update inside merge stops with a message")
        func firstUpdateInsideMerge() async {
            let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
                firstUpdateInsideMergeInChild()
            }
            expectStop(result, "ThreadLocalAccumulator<Int> was used inside its own merge or initial-value closure")
        }

        @Test("combined() inside merge stops with a message")
        func combinedInsideMerge() async {
            let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
                combinedInsideMergeInChild()
            }
            expectStop(result, "ThreadLocalAccumulator<Int> was used inside its own merge or initial-value closure")
        }

        @Test("update inside the initial-value closure stops with a message")
        func updateInsideMakeInitial() async {
            let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
                updateInsideMakeInitialInChild()
            }
            expectStop(
                result,
                "ThreadLocalAccumulator<Int>: the initial-value closure accessed the same ThreadLocalAccumulator on the same thread"
            )
        }

        @Test("init(initial:merge:) with a class value stops with a message")
        func sharedClassInitial() async {
            let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
                sharedClassInitialInChild()
            }
            expectStop(
                result,
                "ThreadLocalAccumulator<Shared>(initial:merge:) would share one object among all threads"
            )
        }

        @Test("TrackedThreadLocal.reset() inside withValue stops with a message")
        func trackedResetInsideWithValue() async {
            let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
                trackedResetInsideWithValueInChild()
            }
            expectStop(result, "TrackedThreadLocal<Shared>: reset() was called inside withValue on the same thread")
        }
    }
}

// The bodies of the exit tests, run in the child process.

private func sumOfInts() -> ThreadLocalAccumulator<Int> {
    ThreadLocalAccumulator(initial: 0) { $0 += $1 }
}

private func updateInsideUpdateInChild() {
    let sum = sumOfInts()
    sum.update { _ in sum.update { $0 += 1 } }
}

private func combinedInsideUpdateInChild() {
    let sum = sumOfInts()
    sum.update { _ in _ = sum.combined() }
}

/// The first `merge` of `combined()` merges the total, not this thread's cell;
/// the `update` inside it stops all the same.
private func updateInsideMergeInChild() {
    let sum = Late<ThreadLocalAccumulator<Int>>()
    sum.set(
        ThreadLocalAccumulator(initial: 0) { into, next in
            into += next
            sum.get.update { $0 += 1 }
        }
    )
    sum.get.update { $0 += 1 }
    _ = sum.get.combined()
}

/// The thread has no cell: `update` inside `merge` registers one, which takes
/// the lock that `combined()` holds.
private func firstUpdateInsideMergeInChild() {
    let sum = Late<ThreadLocalAccumulator<Int>>()
    sum.set(
        ThreadLocalAccumulator(initial: 0) { into, next in
            into += next
            sum.get.update { $0 += 1 }
        }
    )
    _ = sum.get.combined()
}

private func combinedInsideMergeInChild() {
    let sum = Late<ThreadLocalAccumulator<Int>>()
    sum.set(
        ThreadLocalAccumulator(initial: 0) { into, next in
            into += next + sum.get.combined()
        }
    )
    _ = sum.get.combined()
}

private func updateInsideMakeInitialInChild() {
    let sum = Late<ThreadLocalAccumulator<Int>>()
    let started = Atomic<Bool>(false)
    sum.set(
        ThreadLocalAccumulator({
            // The first call (for the total) is made before `sum` is set.
            if started.exchange(true, ordering: .relaxed) { sum.get.update { $0 += 1 } }
            return 0
        }) { $0 += $1 }
    )
    sum.get.update { $0 += 1 }
}

private final class Shared: Sendable {}

private func sharedClassInitialInChild() {
    _ = ThreadLocalAccumulator(initial: Shared()) { _, _ in }
}

private func trackedResetInsideWithValueInChild() {
    let tracked = TrackedThreadLocal { Shared() }
    tracked.withValue { _ in tracked.reset() }
}

/// Checks that an exit test's child stopped with `message` on stderr, at a
/// line of this file: the caller's, not the library's.
private func expectStop(
    _ result: ExitTest.Result?,
    _ message: String,
    sourceLocation: SourceLocation = #_sourceLocation
) {
    let stderr = String(decoding: result?.standardErrorContent ?? [], as: UTF8.self)
    #expect(stderr.contains(message), "stderr: \(stderr)", sourceLocation: sourceLocation)
    #expect(stderr.contains("AggregateMisuseTests.swift:"), "stderr: \(stderr)", sourceLocation: sourceLocation)
}
