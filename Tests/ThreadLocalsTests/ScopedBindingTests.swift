// SPDX-License-Identifier: Apache-2.0
import Testing
import ThreadLocals
import ThreadLocalsTestSupport

@Suite("ThreadLocal: withBinding(_:operation:)")
struct ScopedBindingTests {
    private struct Failure: Error, Equatable { var code: Int }

    @Test func bindsForTheOperationAndRestoresNoValue() {
        let requestID = ThreadLocal<String?>()
        let seen = requestID.withBinding("req-1") { requestID.value }
        #expect(seen == "req-1")
        #expect(!requestID.hasValue)  // no value before: none after
        #expect(requestID.valueIfPresent == nil)
    }

    @Test func nestedBindingsRestoreEachOther() {
        let depth = ThreadLocal { 0 }
        depth.value = 1
        var seen: [Int] = []
        depth.withBinding(2) {
            seen.append(depth.value)
            depth.withBinding(3) {
                seen.append(depth.value)
                depth.value += 10  // changes made inside are dropped with the binding
            }
            seen.append(depth.value)
        }
        seen.append(depth.value)
        #expect(seen == [2, 3, 2, 1])
    }

    @Test func restoresWhenTheOperationThrows() {
        let requestID = ThreadLocal<String?>()
        requestID.value = "outer"
        #expect(throws: Failure(code: 1)) {
            try requestID.withBinding("inner") { () throws(Failure) -> Void in
                #expect(requestID.value == "inner")
                throw Failure(code: 1)
            }
        }
        #expect(requestID.value == "outer")
        let typed: Result<Int, Failure> = Result { () throws(Failure) -> Int in
            try requestID.withBinding("x") { () throws(Failure) -> Int in throw Failure(code: 2) }
        }
        #expect(typed == .failure(Failure(code: 2)))
        #expect(requestID.value == "outer")
    }

    @Test func restoresAbsenceAlsoWhenTheOperationThrows() {
        let level = ThreadLocal { 5 }
        #expect(throws: Failure.self) {
            try level.withBinding(7) { () throws(Failure) in throw Failure(code: 0) }
        }
        #expect(!level.hasValue)
        #expect(level.value == 5)  // the initializer runs as for a fresh thread
    }

    /// Every value is released exactly once: the bound one on the way out,
    /// the previous one when it is finally reset; none when there was none.
    @Test func classValuesAreReleasedOnceAndNotLeaked() {
        let counter = LifetimeCounter()
        let local = ThreadLocal<LifetimeTracked<Int>?>()
        local.withBinding(LifetimeTracked(1, counter: counter)) {
            #expect(local.value?.payload == 1)
            local.withBinding(LifetimeTracked(2, counter: counter)) {
                #expect(counter.live == 2)
            }
            #expect(counter.live == 1)
            #expect(local.value?.payload == 1)
        }
        #expect(counter.live == 0)
        #expect(!local.hasValue)

        local.value = LifetimeTracked(3, counter: counter)
        local.withBinding(LifetimeTracked(4, counter: counter)) {
            local.reset()  // the operation may reset: the previous value still comes back
            #expect(!local.hasValue)
        }
        #expect(local.value?.payload == 3)
        #expect(counter.live == 1)
        local.reset()
        #expect(counter.live == 0)
        #expect(counter.created == 4)
    }

    @Test func theInitialValueClosureDoesNotRun() {
        let runs = Locked(0)
        let local = ThreadLocal {
            runs.withLock { $0 += 1 }
            return [1]
        }
        local.withBinding([2]) { #expect(local.value == [2]) }
        #expect(runs.withLock { $0 } == 0)
        #expect(!local.hasValue)
    }

    @Test func otherThreadsAreUntouched() {
        let requestID = ThreadLocal<String?>()
        requestID.withBinding("mine") {
            let other = onNewThread { requestID.value }
            #expect(other == nil)
        }
    }
}
