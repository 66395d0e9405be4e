// SPDX-License-Identifier: Apache-2.0
import CThreadLocals
import Synchronization
import Testing
import ThreadLocalsTestSupport

@testable import ThreadLocals

// The classic scenario's variables are globals, as in the Python original.
private let currentName = ThreadLocal<String?>()
private func bar() -> String? { currentName.value }
private func foo() -> String? { bar() }

// The same code with a plain global. Accesses are ordered by barriers, so the
// overwrite it shows is deterministic (and not a data race).
nonisolated(unsafe) private var plainName: String? = nil
private func plainBar() -> String? { plainName }
private func plainFoo() -> String? { plainBar() }

@Suite("ThreadLocal")
struct ThreadLocalTests {
    // MARK: - The classic scenario

    /// Two threads store their own name in one shared variable, wait, then
    /// call `foo()`, which calls `bar()`, which reads it.
    @Test func eachThreadSeesItsOwnValueDeepInTheCallChain() {
        let barrier = ThreadBarrier(count: 2)
        let seen = onNewThreads(count: 2) { index in
            let mine = ["Alice", "Bob"][index]
            // Store in a fixed order, so that a shared variable would end up
            // holding Bob's name for both.
            if index == 1 { barrier.wait() }
            currentName.value = mine
            if index == 0 { barrier.wait() }
            barrier.wait()
            return foo()
        }
        #expect(seen == ["Alice", "Bob"])
        #expect(currentName.value == nil)  // this thread never stored a name
    }

    /// The same code with a plain shared variable: the second store overwrites
    /// the first for everyone. This is what `ThreadLocal` prevents.
    @Test func theSameCodeWithAPlainGlobalShowsTheOverwrite() {
        let barrier = ThreadBarrier(count: 2)
        let seen = onNewThreads(count: 2) { index in
            let mine = ["Alice", "Bob"][index]
            if index == 1 { barrier.wait() }
            plainName = mine
            if index == 0 { barrier.wait() }
            barrier.wait()
            return plainFoo()
        }
        #expect(seen == ["Bob", "Bob"])
    }

    // MARK: - Isolation and initialisation

    @Test func manyThreadsAreIsolated() {
        let slot = ThreadLocal { -1 }
        let threads = 16
        let barrier = ThreadBarrier(count: threads)
        let results = onNewThreads(count: threads) { index in
            slot.value = index
            barrier.wait()  // everybody has stored before anybody reads
            for _ in 0..<1_000 { slot.value += threads }
            barrier.wait()
            return slot.value
        }
        #expect(results == (0..<threads).map { $0 + 1_000 * threads })
        #expect(slot.value == -1)
    }

    @Test func initialValueRunsLazilyOncePerThread() {
        let calls = Atomic<Int>(0)
        let list = ThreadLocal { () -> [Int] in
            calls.add(1, ordering: .relaxed)
            return [0]
        }
        #expect(calls.load(ordering: .relaxed) == 0)  // lazy: not at creation
        let threads = 8
        let counts = onNewThreads(count: threads) { index in
            for i in 0..<100 { list.value.append(i) }
            list.withValue { $0.append(index) }
            return list.value.count
        }
        #expect(counts == Array(repeating: 102, count: threads))
        #expect(calls.load(ordering: .relaxed) == threads)
    }

    @Test func assigningDoesNotRunTheInitialValue() {
        let calls = Atomic<Int>(0)
        let text = ThreadLocal { () -> String in
            calls.add(1, ordering: .relaxed)
            return "initial"
        }
        text.value = "assigned"
        #expect(text.value == "assigned")
        #expect(calls.load(ordering: .relaxed) == 0)
        text.reset()
        #expect(text.value == "initial")
        #expect(calls.load(ordering: .relaxed) == 1)
    }

    @Test func anAssignmentInsideTheInitialValueClosureIsKept() {
        let counter = LifetimeCounter()
        let holder = ThreadLocal<ThreadLocal<LifetimeTracked<Int>>?> { nil }
        let variable = ThreadLocal {
            holder.value!.value = LifetimeTracked(1, counter: counter)  // assigns its own value
            return LifetimeTracked(2, counter: counter)
        }
        holder.value = variable
        #expect(variable.value.payload == 1)
        #expect(counter.created == 2)
        #expect(counter.live == 1)  // the closure's result was released, not leaked
        variable.reset()
        holder.value = nil
        #expect(counter.live == 0)
    }

    @Test func optionalsStartAsNil() {
        let requestID = ThreadLocal<String?>()
        #expect(requestID.value == nil)
        requestID.value = "req-42"
        #expect(requestID.value == "req-42")
        requestID.value = nil
        #expect(requestID.value == nil)
        #expect(requestID.hasValue)
    }

    @Test func hasValueAndReset() {
        let counter = ThreadLocal { 10 }
        #expect(!counter.hasValue)
        counter.value += 1
        #expect(counter.hasValue)
        #expect(counter.value == 11)
        counter.reset()
        #expect(!counter.hasValue)
        #expect(counter.value == 10)
        counter.reset()
        counter.reset()  // resetting without a value does nothing
        #expect(!counter.hasValue)

        // Another thread's value is untouched by this thread's reset.
        counter.value = 5
        let other = onNewThread { () -> Bool in
            counter.value = 7
            return counter.hasValue
        }
        #expect(other)
        counter.reset()
        #expect(counter.value == 10)
    }

    @Test func withValueMutatesInPlaceWithoutCopying() {
        let scratch = ThreadLocal { () -> [UInt8] in
            var buffer = [UInt8]()
            buffer.reserveCapacity(4096)
            return buffer
        }
        let before = scratch.withValue { $0.withUnsafeBufferPointer { UInt(bitPattern: $0.baseAddress) } }
        for byte in 0..<100 { scratch.withValue { $0.append(UInt8(byte)) } }
        scratch.value[0] = 42
        scratch.value.append(1)
        let after = scratch.withValue { $0.withUnsafeBufferPointer { UInt(bitPattern: $0.baseAddress) } }
        #expect(before == after)  // appends within capacity: no copy of the buffer
        #expect(scratch.value.count == 101)
        #expect(scratch.value[0] == 42)
        let result = scratch.withValue { buffer -> Int in
            buffer.removeLast()
            return buffer.count
        }
        #expect(result == 100)
    }

    struct Settings {
        var v = ""
        var level = 0
    }

    @Test func dynamicMemberLookupReadsAndWritesProperties() {
        let data = ThreadLocal { Settings() }
        data.v = "main"
        data.level += 3
        #expect(data.v == "main")
        #expect(data.level == 3)
        let other = onNewThread { () -> String in
            data.v = "worker"
            return data.v
        }
        #expect(other == "worker")
        #expect(data.v == "main")
    }

    @Test func anyKindOfValue() {
        let text = ThreadLocal { "abc" }
        text.value += "def"
        #expect(text.value == "abcdef")

        let any = ThreadLocal<any Sendable> { 1 }
        #expect(any.value as? Int == 1)
        any.value = "now a string"
        #expect(any.value as? String == "now a string")

        enum Mode { case idle, busy(Int) }
        let mode = ThreadLocal { Mode.idle }
        mode.value = .busy(3)
        if case .busy(let n) = mode.value { #expect(n == 3) } else { Issue.record("lost the enum payload") }

        let large = ThreadLocal { (1, 2, 3, 4) }  // trivial but wider than a word: boxed
        large.value.3 = 40
        #expect(large.value == (1, 2, 3, 40))

        let pointer = ThreadLocal<UnsafeRawPointer?> { nil }
        #expect(pointer.value == nil)
    }

    @Test func storageIsChosenByType() {
        #expect(ThreadLocal<Int>._isUnboxed)
        #expect(ThreadLocal<Double>._isUnboxed)
        #expect(ThreadLocal<UInt8>._isUnboxed)
        #expect(ThreadLocal<UnsafeMutableRawPointer?>._isUnboxed)
        #expect(!ThreadLocal<Int?>._isUnboxed)  // 9 bytes
        #expect(!ThreadLocal<String>._isUnboxed)
        #expect(!ThreadLocal<[Int]>._isUnboxed)
        #expect(!ThreadLocal<LifetimeTracked<Int>>._isUnboxed)
    }

    // MARK: - Release

    @Test func valuesAreReleasedWhenTheirThreadExits() {
        let counter = LifetimeCounter()
        let object = ThreadLocal { LifetimeTracked(0, counter: counter) }
        let pair = ThreadLocal { TrackedPair(name: "p", tracked: LifetimeTracked(1, counter: counter)) }
        let scalar = ThreadLocal { 0 }
        let threads = 8
        let seen = onNewThreads(count: threads) { index in
            _ = object.value
            pair.value.name = "thread \(index)"
            scalar.value = index
            return counter.live >= 2
        }
        #expect(seen.allSatisfy { $0 })
        #expect(counter.created == 2 * threads)
        #expect(counter.live == 0)
        #expect(counter.released == 2 * threads)
        withExtendedLifetime((object, pair, scalar)) {}
    }

    @Test func deinitReleasesEveryRunningThreadsValue() {
        let counter = LifetimeCounter()
        let threads = 6
        let stored = ThreadBarrier(count: threads + 1)
        let checked = ThreadBarrier(count: threads + 1)
        var variable: ThreadLocal<TrackedPair<Int>>? = ThreadLocal {
            TrackedPair(name: "", tracked: LifetimeTracked(0, counter: counter))
        }
        let weakVariable = WeakBox(variable!)
        let workers = (0..<threads).map { _ in
            startThread {
                weakVariable.object!.value.name = "set"
                stored.wait()
                checked.wait()  // stay alive until the main thread has checked
            }
        }
        stored.wait()
        #expect(counter.live == threads)
        variable = nil  // the last reference: deinit releases all threads' values here
        #expect(weakVariable.object == nil)
        #expect(counter.live == 0)
        checked.wait()
        for thread in workers { joinThread(thread) }
        #expect(counter.released == threads)  // not again when the threads exit
    }

    @Test func resetReleasesTheValueNow() {
        let counter = LifetimeCounter()
        let object = ThreadLocal { LifetimeTracked(0, counter: counter) }
        _ = object.value.payload
        #expect(counter.live == 1)
        object.reset()
        #expect(counter.live == 0)
        _ = object.value.payload
        #expect(counter.live == 1)
        #expect(counter.created == 2)
        object.reset()
        #expect(counter.live == 0)
    }

    @Test func assigningReleasesTheOldValue() {
        let counter = LifetimeCounter()
        let object = ThreadLocal { LifetimeTracked(0, counter: counter) }
        object.value = LifetimeTracked(1, counter: counter)
        object.value = LifetimeTracked(2, counter: counter)
        #expect(counter.live == 1)
        #expect(object.value.payload == 2)
        object.withValue { $0 = LifetimeTracked(3, counter: counter) }
        #expect(counter.live == 1)
        object.reset()
        #expect(counter.live == 0)
    }

    @Test func deinitializersMayUseThreadLocalsDuringThreadExit() {
        let counter = LifetimeCounter()
        let log = ThreadLocal<[String]> { [] }
        let seenInDeinit = Mutex<[String]>([])
        let tracer = ThreadLocal<LifetimeTracked<Int>?> { nil }
        let worker = ThreadLocal {
            LifetimeTracked(1, counter: counter) { _ in
                // Runs on the exiting thread: reads and writes other
                // thread-locals, and stores a new tracked value.
                log.value.append("deinit")
                seenInDeinit.withLock { $0 = log.value }
                tracer.value = LifetimeTracked(2, counter: counter)
            }
        }
        onNewThread {
            log.value = ["start"]
            _ = worker.value.payload
        }
        #expect(seenInDeinit.withLock { $0 }.last == "deinit")
        #expect(counter.created == 2)
        #expect(counter.live == 0)  // the value stored during teardown was released too
    }

    /// A value whose deinitializer stores a successor, twice over, and reads
    /// another variable: each exit round releases what the previous one
    /// stored, and every value is released by the time the thread is gone.
    @Test func assignmentsDuringTeardownAreReleasedInTheNextRound() {
        let counter = LifetimeCounter()
        let chain = ThreadLocal<LifetimeTracked<Int>?> { nil }
        let reads = ThreadLocal { LifetimeTracked(-1, counter: counter) }
        @Sendable func link(_ n: Int) -> LifetimeTracked<Int> {
            LifetimeTracked(n, counter: counter) { n in
                _ = reads.value.payload  // a read in every round
                if n > 0 { chain.value = link(n - 1) }
            }
        }
        onNewThread { chain.value = link(2) }
        #expect(counter.live == 0)
        #expect(counter.created == 3 + 3)
    }

    // MARK: - Many variables

    @Test func tenThousandLiveThreadLocals() {
        let variables = (0..<10_000).map { index in ThreadLocal { index } }
        for (index, variable) in variables.enumerated() where index % 3 == 0 {
            variable.value *= 2
        }
        for (index, variable) in variables.enumerated() {
            #expect(variable.value == (index % 3 == 0 ? index * 2 : index))
        }
        #expect(ctl_get_stats().live_slots >= 10_000)
        let onOtherThread = onNewThread {
            variables.enumerated().allSatisfy { $0.element.value == $0.offset }
        }
        #expect(onOtherThread)
    }

    @Test func createDestroyChurnNeverShowsAStaleValue() {
        for round in 0..<2_000 {
            let variable = ThreadLocal { -1 }
            #expect(!variable.hasValue)
            #expect(variable.value == -1)
            variable.value = round
        }
        let counter = LifetimeCounter()
        for round in 0..<500 {
            let variable = ThreadLocal<LifetimeTracked<Int>?> { nil }
            #expect(variable.value == nil)
            variable.value = LifetimeTracked(round, counter: counter)
        }
        #expect(counter.live == 0)
    }
}

/// A weak reference that can be captured by a `@Sendable` closure.
final class WeakBox<Object: AnyObject & Sendable>: Sendable {
    // Sendable: the referenced object is Sendable; the weak reference itself
    // is read and cleared atomically by the runtime.
    nonisolated(unsafe) weak var object: Object?
    init(_ object: Object) { self.object = object }
}
