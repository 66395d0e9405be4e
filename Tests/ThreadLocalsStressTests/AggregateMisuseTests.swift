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
        @Test(
            "a misuse of an aggregate stops with a message naming the caller's line",
            arguments: AggregateMisuseCase.allCases
        )
        func stops(_ misuse: AggregateMisuseCase) async {
            let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) { [misuse] in
                misuse.run()
            }
            let stderr = String(decoding: result?.standardErrorContent ?? [], as: UTF8.self)
            #expect(stderr.contains(misuse.message), "stderr: \(stderr)")
            #expect(stderr.contains("AggregateMisuseTests.swift:"), "stderr: \(stderr)")
        }
    }
}

/// Each misuse, the message it stops with, and its body, which runs in the
/// child process.
enum AggregateMisuseCase: String, CaseIterable, Codable, Sendable {
    case updateInsideUpdate, combinedInsideUpdate, updateInsideMerge, firstUpdateInsideMerge
    case combinedInsideMerge, updateInsideMakeInitial, sharedClassInitial, trackedResetInsideWithValue

    var message: String {
        switch self {
        case .updateInsideUpdate, .updateInsideMerge:
            "ThreadLocalAccumulator<Int> update was called inside update or merge on the same thread"
        case .combinedInsideUpdate:
            "ThreadLocalAccumulator<Int> combined() or reset() was called inside update on the same thread"
        case .firstUpdateInsideMerge, .combinedInsideMerge:
            "ThreadLocalAccumulator<Int> was used inside its own merge or initial-value closure"
        case .updateInsideMakeInitial:
            "ThreadLocalAccumulator<Int>: the initial-value closure accessed the same ThreadLocalAccumulator on the same thread"
        case .sharedClassInitial:
            "ThreadLocalAccumulator<Shared>(initial:merge:) would share one object among all threads"
        case .trackedResetInsideWithValue:
            "TrackedThreadLocal<Shared>: reset() was called inside withValue on the same thread"
        }
    }

    func run() {
        switch self {
        case .updateInsideUpdate: updateInsideUpdateInChild()
        case .combinedInsideUpdate: combinedInsideUpdateInChild()
        case .updateInsideMerge: updateInsideMergeInChild()
        case .firstUpdateInsideMerge: firstUpdateInsideMergeInChild()
        case .combinedInsideMerge: combinedInsideMergeInChild()
        case .updateInsideMakeInitial: updateInsideMakeInitialInChild()
        case .sharedClassInitial: sharedClassInitialInChild()
        case .trackedResetInsideWithValue: trackedResetInsideWithValueInChild()
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

/// A sum whose `merge` also updates it.
private func updatingInMerge() -> Late<ThreadLocalAccumulator<Int>> {
    let sum = Late<ThreadLocalAccumulator<Int>>()
    sum.set(
        ThreadLocalAccumulator(initial: 0) { into, next in
            into += next
            sum.get.update { $0 += 1 }
        }
    )
    return sum
}

/// The first `merge` of `combined()` merges the total, not this thread's cell;
/// the `update` inside it stops all the same.
private func updateInsideMergeInChild() {
    let sum = updatingInMerge()
    sum.get.update { $0 += 1 }
    _ = sum.get.combined()
}

/// The thread has no cell: `update` inside `merge` registers one, which takes
/// the lock that `combined()` holds.
private func firstUpdateInsideMergeInChild() {
    _ = updatingInMerge().get.combined()
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
