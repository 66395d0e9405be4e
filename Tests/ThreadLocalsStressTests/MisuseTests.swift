// SPDX-License-Identifier: Apache-2.0
import CThreadLocals
import Synchronization
import Testing
import ThreadLocals
import ThreadLocalsTestSupport

extension Stress {
    /// Every misuse through the public API has a defined outcome: a refusal
    /// (C error code or `false`), a documented result, or a precondition
    /// failure whose message names the misuse. The table "Misuse and its
    /// outcome" (`MisuseAndItsOutcome.md`) lists them. Its run-time rows are checked
    /// here, except fork (`ForkTests`) and deinitializers that use
    /// thread-locals at thread exit (`ReentrancyTests`); its compile-time row
    /// by `.ci/steps/15-compile-checks.sh`.
    @Suite("misuse")
    struct Misuse {
        // MARK: Swift: fatal errors that name the misuse (in every build configuration)

        @Test("reset() inside withValue on a boxed value stops with a message")
        func resetInsideWithValue() async {
            let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
                resetInsideWithValueInChild()
            }
            expectMessage(result, "reset() or take() was called while this thread's value is being accessed")
        }

        @Test("assigning value inside withValue on a boxed value stops with a message")
        func assignInsideWithValue() async {
            let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
                assignInsideWithValueInChild()
            }
            expectMessage(result, "was assigned or mutated while this thread was already accessing it")
        }

        @Test("nested withValue on the same boxed value stops with a message")
        func nestedWithValue() async {
            let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
                nestedWithValueInChild()
            }
            expectMessage(result, "was assigned or mutated while this thread was already accessing it")
        }

        @Test("reading value inside withValue on a boxed value stops with a message")
        func readInsideWithValue() async {
            let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
                readInsideWithValueInChild()
            }
            expectMessage(result, "the value was read while this thread was mutating it")
        }

        @Test("an initial-value closure that reads its own ThreadLocal stops with a message")
        func recursiveInitialValue() async {
            let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
                recursiveInitialValueInChild()
            }
            expectMessage(result, "the initial-value closure accessed the same ThreadLocal on the same thread")
        }

        @Test("an initial-value closure that reads its own TrackedThreadLocal stops with a message naming it")
        func recursiveTrackedInitialValue() async {
            let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
                recursiveTrackedInitialValueInChild()
            }
            expectMessage(
                result,
                "TrackedThreadLocal<Link>: the initial-value closure accessed the same TrackedThreadLocal on the same thread"
            )
        }

        // MARK: Swift: documented outcomes without a stop

        @Test("reset() and assignment inside withValue on a scalar in the slot: memory safe, documented result")
        func scalarInsideWithValue() {
            let local = ThreadLocal { 0 }
            local.withValue { value in
                value = 5
                local.value = 7  // not checked for scalars: one of the two writes wins
            }
            #expect(local.value == 5 || local.value == 7)
            local.withValue { value in
                value = 9
                local.reset()  // the value is removed; the outer write goes nowhere
            }
            #expect(!local.hasValue)
            #expect(local.value == 0)
        }

        @Test("a deinit at thread exit that re-creates its own ThreadLocal again stops with a message")
        func endlessRecreation() async {
            let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
                endlessRecreationInChild()
            }
            expectMessage(result, "created a value again; that would repeat at every exit sweep")
            expectMessage(result, "read thread-locals with valueIfPresent")
        }

        @Test("values stored in the last exit sweep stay until their variable goes away")
        func valuesStoredInTheLastRound() {
            let counter = LifetimeCounter()
            let other = Late<ThreadLocal<LifetimeTracked<Int>?>>()
            let lazy = Late<ThreadLocal<LifetimeTracked<Int>>>()
            let rounds = Atomic<Int>(0)
            let trigger = Late<ThreadLocal<LifetimeTracked<Int>?>>()
            @Sendable func reviving(_ round: Int) -> LifetimeTracked<Int> {
                LifetimeTracked(round, counter: counter) { round in
                    rounds.add(1, ordering: .relaxed)
                    if round + 1 < Int(CTL_EXIT_SWEEPS) {
                        trigger.get.value = reviving(round + 1)  // stored: released next round
                    } else {
                        // The last round: stored, and left after the thread ends.
                        other.get.value = LifetimeTracked(100, counter: counter)
                        _ = lazy.get.value.payload
                    }
                }
            }
            other.set(ThreadLocal())
            lazy.set(ThreadLocal { LifetimeTracked(-1, counter: counter) })
            trigger.set(ThreadLocal())
            onNewThread { trigger.get.value = reviving(0) }
            #expect(rounds.load(ordering: .relaxed) == Int(CTL_EXIT_SWEEPS))
            #expect(counter.live == 2)
            other.set(nil)
            #expect(counter.live == 1)
            lazy.set(nil)
            #expect(counter.live == 0)
            #expect(counter.created == Int(CTL_EXIT_SWEEPS) + 2)
            trigger.set(nil)
        }

        // MARK: C: refusals

        @Test("C: destroying twice, using a destroyed or never-created slot, a null destructor")
        func cMisuse() {
            var slot = ctl_slot()
            #expect(ctl_slot_create(&slot, nil, nil) == CTL_OK)  // a null destructor is allowed
            #expect(ctl_set_i64(slot, 5))
            #expect(ctl_slot_destroy(slot) == CTL_OK)  // the value is dropped, not destroyed
            #expect(ctl_slot_destroy(slot) == CTL_EINVAL)  // twice: refused, nothing changes
            #expect(!ctl_slot_is_live(slot))
            #expect(!ctl_has_value(slot) && ctl_get_i64(slot) == 0 && ctl_value_pointer(slot) == nil)
            #expect(!ctl_set_i64(slot, 6))  // use after destroy: refused, ownership stays with the caller
            var taken = ctl_value()
            #expect(!ctl_take(slot, &taken))
            #expect(ctl_begin_initialization(slot) == CTL_EINVAL)
            ctl_cancel_initialization(slot)  // no effect
            #expect(!ctl_has_value(slot))

            // A handle never created: zero-initialized (as a C `static
            // ctl_slot s;` before `ctl_slot_create`), made up, out of range,
            // or with a lane that does not match its number.
            for bogus in [
                ctl_slot(), ctl_slot(ctl__lane: 5, generation: 0, index: 5),
                ctl_slot(ctl__lane: 3, generation: 12_345, index: 3),
                ctl_slot(ctl__lane: UInt32(CTL_LANE_COUNT), generation: 1, index: 4_000_000_000),
                ctl_slot(ctl__lane: 7, generation: 0x7fff_fff0, index: 900),
            ] {
                #expect(ctl_slot_destroy(bogus) == CTL_EINVAL)
                #expect(!ctl_set_i64(bogus, 1))
                #expect(!ctl_has_value(bogus))
                #expect(ctl_get_i64(bogus) == 0)
                #expect(ctl_value_pointer(bogus) == nil)
                #expect(!ctl_take(bogus, &taken))
            }

            // A null destructor at thread exit: values simply dropped.
            var scalars = ctl_slot()
            #expect(ctl_slot_create(&scalars, nil, nil) == CTL_OK)
            let handle = scalars
            let stored = onNewThread { ctl_set_i64(handle, 42) && ctl_get_i64(handle) == 42 }
            #expect(stored)
            #expect(ctl_slot_destroy(scalars) == CTL_OK)
        }

        @Test("C: a store from a destructor in the last exit round stays until the slot is destroyed")
        func cStoreAfterClose() {
            let log = ReleaseLog()
            let context = Unmanaged.passRetained(log).toOpaque()
            defer { Unmanaged<ReleaseLog>.fromOpaque(context).release() }
            var slot = ctl_slot()
            #expect(
                ctl_slot_create(
                    &slot,
                    { value, context in
                        let log = Unmanaged<ReleaseLog>.fromOpaque(context!).takeUnretainedValue()
                        log.append(Int(value.i64))
                        // Store again; `ctl_set` says whether it was stored.
                        let round = Int(value.i64) + 1
                        log.append(ctl_set_i64(stressSlot.withLock { $0 }, Int64(round)) ? 1_000 : -1_000)
                    },
                    context
                ) == CTL_OK
            )
            let handle = slot
            stressSlot.withLock { $0 = handle }
            _ = onNewThread { ctl_set_i64(handle, 1) }
            // Every round stores again; the value stored in the last round
            // stays until the slot is destroyed, on this thread, whose store
            // into the dying slot is refused.
            let sweeps = Int(CTL_EXIT_SWEEPS)
            #expect(log.drain() == (1...sweeps).flatMap { [$0, 1_000] })
            #expect(ctl_slot_destroy(slot) == CTL_OK)
            #expect(log.drain() == [sweeps + 1, -1_000])
        }
    }
}

// The bodies of the exit tests, run in the child process: synchronous, as
// the accessors are `noasync`.

private func resetInsideWithValueInChild() {
    let local = ThreadLocal { [1, 2, 3] }
    local.withValue { _ in local.reset() }
}

private func assignInsideWithValueInChild() {
    let local = ThreadLocal { "a" }
    local.withValue { _ in local.value = "b" }
}

private func nestedWithValueInChild() {
    let local = ThreadLocal { [0] }
    local.withValue { _ in local.withValue { $0.append(1) } }
}

private func readInsideWithValueInChild() {
    let local = ThreadLocal { [0] }
    local.withValue { _ in _ = local.value.count }
}

private func endlessRecreationInChild() {
    let counter = LifetimeCounter()
    let local = Late<ThreadLocal<SelfReading>>()
    local.set(ThreadLocal { SelfReading(local, counter: counter) })
    onNewThread { _ = local.get.value }
}

private func recursiveInitialValueInChild() {
    let local = Late<ThreadLocal<Int>>()
    local.set(ThreadLocal { local.get.value + 1 })
    _ = local.get.value
}

private final class Link: Sendable {
    let next: Link?
    init(next: Link?) { self.next = next }
}

private func recursiveTrackedInitialValueInChild() {
    let tracked = Late<TrackedThreadLocal<Link>>()
    tracked.set(TrackedThreadLocal { Link(next: tracked.get.value) })
    _ = tracked.get.value
}

/// The slot of `cStoreAfterClose`, for its C destructor.
private let stressSlot = Locked(ctl_slot())

/// A value whose deinit reads the variable that holds it: at thread exit, the
/// first creates a second, whose deinit would create a third, and so on.
private final class SelfReading: Sendable {
    let local: Late<ThreadLocal<SelfReading>>
    let tracked: LifetimeTracked<Int>
    init(_ local: Late<ThreadLocal<SelfReading>>, counter: LifetimeCounter) {
        self.local = local
        self.tracked = LifetimeTracked(0, counter: counter)
    }
    deinit { _ = local.getIfSet?.value }
}

/// Checks that an exit test's child stopped with `message` on stderr.
private func expectMessage(
    _ result: ExitTest.Result?,
    _ message: String,
    sourceLocation: SourceLocation = #_sourceLocation
) {
    let stderr = String(decoding: result?.standardErrorContent ?? [], as: UTF8.self)
    #expect(stderr.contains(message), "stderr: \(stderr)", sourceLocation: sourceLocation)
}
