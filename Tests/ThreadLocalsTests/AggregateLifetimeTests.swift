// SPDX-License-Identifier: Apache-2.0
import CThreadLocals
import Synchronization
import Testing
import ThreadLocalsTestSupport

@testable import ThreadLocals

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// An aggregate whose last visible use is an access must stay alive until the
/// access ends: in an optimized build the compiler may release an object right
/// after its last use, and a pointer derived from it is not a use.
///
/// Each test runs a loop of functions whose local aggregate is used once, in a
/// child process whose freed memory is overwritten (glibc's
/// `malloc.perturb`, with the thread cache off), so that a write or read
/// after the aggregate was freed crashes or returns a wrong value even without
/// a sanitizer. Under AddressSanitizer the use-after-free itself stops the
/// child. Only optimized builds could show the bug; debug builds pass either
/// way.
@Suite("aggregate lifetimes")
struct AggregateLifetimeTests {
    @Test("a counter whose last use is increment() stays alive through it")
    func counterIncrement() async {
        poisonFreedMemoryInChildProcesses()
        await #expect(processExitsWith: .success) {
            runWithPoisonedFree {
                var failures = 0
                for _ in 0..<lifetimeRounds {
                    failures += incrementLocalCounter()
                    failures += decrementLocalCounter()
                }
                return failures
            }
        }
    }

    @Test("a tracked thread-local whose last use is value or withValue stays alive through it")
    func trackedValue() async {
        poisonFreedMemoryInChildProcesses()
        await #expect(processExitsWith: .success) {
            runWithPoisonedFree {
                var failures = 0
                for round in 0..<lifetimeRounds {
                    if readLocalTrackedValue(round) != round { failures += 1 }
                    if readLocalTrackedWithValue(round) != round { failures += 1 }
                }
                return failures
            }
        }
    }

    @Test("an accumulator whose last use is update() stays alive through it")
    func accumulatorUpdate() async {
        poisonFreedMemoryInChildProcesses()
        await #expect(processExitsWith: .success) {
            runWithPoisonedFree {
                var failures = 0
                for round in 0..<lifetimeRounds {
                    if updateLocalAccumulator(round) != round + 1 { failures += 1 }
                }
                return failures
            }
        }
    }

    /// A thread's cell can be retired after its aggregate is gone: a thread
    /// that exits while the aggregate's deinit runs takes its cell out of the
    /// slot, and retires it possibly after that deinit returned. Here the
    /// cells are taken out, as the exiting thread does, and retired last,
    /// through the slot's destructor: each cell holds its registry, and every
    /// value is released exactly once.
    @Test("a cell retired after its aggregate is gone folds and frees it")
    func cellOutlivesItsAggregate() {
        let lifetimes = LifetimeCounter()
        var accumulator: ThreadLocalAccumulator<[LifetimeTracked<Int>]>? = ThreadLocalAccumulator(initial: []) {
            $0 += $1
        }
        var tracked: TrackedThreadLocal<LifetimeTracked<Int>>? = TrackedThreadLocal {
            LifetimeTracked(2, counter: lifetimes)
        }
        accumulator?.update { $0.append(LifetimeTracked(1, counter: lifetimes)) }
        _ = tracked?.withValue { $0.payload }
        var taken = (accumulator: ctl_value(), tracked: ctl_value())
        #expect(ctl_take(accumulator!._slot, &taken.accumulator))
        #expect(ctl_take(tracked!._slot, &taken.tracked))
        let registries = (
            accumulator: Unmanaged.passUnretained(accumulator!._cells).toOpaque(),
            tracked: Unmanaged.passUnretained(tracked!._cells).toOpaque()
        )
        accumulator = nil
        tracked = nil
        #expect(lifetimes.live == 2)  // each held by its cell alone
        _retireCell(taken.accumulator, registries.accumulator)  // folds into the registry, which it held last
        _retireCell(taken.tracked, registries.tracked)
        #expect(lifetimes.live == 0)
        #expect(lifetimes.released == 2)
    }
}

private let lifetimeRounds = 20_000

private final class Payload: Sendable {
    let number: Int
    init(_ number: Int) { self.number = number }
}

// Each function uses a fresh aggregate once, as a temporary: a temporary has
// no lexical lifetime, so the optimizer may release it right after its last
// use. The aggregate comes from a function that is not inlined, so that it is
// on the heap (the optimizer allocates an object that does not escape on the
// stack, and frees it only at the end of the function).

@inline(never)
private func makeCounter() -> ThreadLocalCounter { ThreadLocalCounter() }

@inline(never)
private func makeTracked(_ number: Int) -> TrackedThreadLocal<Payload> { TrackedThreadLocal { Payload(number) } }

@inline(never)
private func makeAccumulator() -> ThreadLocalAccumulator<[Int]> { ThreadLocalAccumulator(initial: []) { $0 += $1 } }

@inline(never)
private func incrementLocalCounter() -> Int {
    makeCounter().increment()
    return 0
}

@inline(never)
private func decrementLocalCounter() -> Int {
    makeCounter().decrement(by: 3)
    return 0
}

@inline(never)
private func readLocalTrackedValue(_ number: Int) -> Int {
    makeTracked(number).value.number
}

@inline(never)
private func readLocalTrackedWithValue(_ number: Int) -> Int {
    makeTracked(number).withValue { $0.number }
}

@inline(never)
private func updateLocalAccumulator(_ number: Int) -> Int {
    makeAccumulator().update { values in
        values.append(number)
        values.append(1)
        return values.reduce(0, +)
    }
}

/// Sets `GLIBC_TUNABLES` so that the child processes started from now on
/// overwrite freed memory with 0xa5 bytes and keep no per-thread cache of
/// freed blocks (a cached block is not overwritten). glibc reads it only at
/// start-up, so it must be in the environment that the exit test's child is
/// started with. Set once per process; the few child processes of other exit
/// tests that start later get it too (it only slows their `free`).
private func poisonFreedMemoryInChildProcesses() {
    _ = poisonFreedMemoryOnce
}

private let poisonFreedMemoryOnce: Void = {
    #if canImport(Glibc)
        setenv("GLIBC_TUNABLES", "glibc.malloc.tcache_count=0:glibc.malloc.perturb=165", 1)
    #endif
}()

/// Runs `body` in the exit test's child process and exits with status 0 if it
/// found no failure, 1 otherwise (2 if glibc's tunables did not reach it).
private func runWithPoisonedFree(_ body: () -> Int) -> Never {
    #if canImport(Glibc)
        if getenv("GLIBC_TUNABLES") == nil { exit(2) }
    #endif
    exit(body() == 0 ? 0 : 1)
}
