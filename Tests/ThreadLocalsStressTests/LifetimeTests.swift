// SPDX-License-Identifier: Apache-2.0
import Testing
import ThreadLocals
import ThreadLocalsTestSupport

// In an optimized build a `ThreadLocal` may be released right after its last
// use. Each function below makes a variable whose last use is an access, so
// the variable's deinit (which frees this thread's value) can only run after
// the access if the accessor keeps the variable alive to its end. Without
// that, the access reads freed memory: AddressSanitizer reports it, and with
// `GLIBC_TUNABLES=glibc.malloc.tcache_count=0:glibc.malloc.perturb=165` (as
// CI runs this suite in release) freed memory is overwritten, so the results
// below come out wrong.

extension Stress {
    @Suite("lifetime: a variable whose last use is an access")
    struct Lifetime {
        static let rounds = 2_000

        @Test("read of an optional in the slot word")
        func readInline() {
            for i in 0..<Self.rounds { #expect(readOptional(i) == i) }
        }

        @Test("read of a boxed class value's property")
        func readBoxed() {
            for i in 0..<Self.rounds { #expect(readBoxProperty(i) == i) }
        }

        @Test("in-place mutation through value")
        func modify() {
            for i in 0..<Self.rounds { #expect(modifyBox(i) == i + 1) }
        }

        @Test("withValue")
        func withValue() {
            for i in 0..<Self.rounds { #expect(mutateWithValue(i) == i + 2) }
        }

        @Test("assignment of a class value, then of nil: every value released")
        func assign() {
            let counter = LifetimeCounter()
            for i in 0..<Self.rounds { assignThenClear(i, counter) }
            #expect(counter.live == 0)
            #expect(counter.created == 2 * Self.rounds)
        }

        @Test("dynamic member read and write")
        func dynamicMember() {
            for i in 0..<Self.rounds { #expect(dynamicMemberWrite(i) == i) }
        }

        @Test("take, exchange and valueIfPresent")
        func valueManagement() {
            for i in 0..<Self.rounds {
                #expect(takeBack(i) == i)
                #expect(exchangeBack(i) == i)
                #expect(peek(i) == i)
            }
        }
    }
}

final class Holder: Sendable {
    let x: Int
    init(_ x: Int) { self.x = x }
}

struct Counter: Sendable {
    var x: Int
    var padding: (Int, Int, Int) = (0, 0, 0)  // not stored in the slot word
}

@inline(never) func readOptional(_ i: Int) -> Int? {
    let local = ThreadLocal<Int?> { i }
    return local.value
}

@inline(never) func readBoxProperty(_ i: Int) -> Int {
    let local = ThreadLocal { Holder(i) }
    return local.value.x
}

@inline(never) func modifyBox(_ i: Int) -> Int {
    let local = ThreadLocal { Counter(x: i) }
    local.value.x += 1
    return local.valueIfPresent?.x ?? -1
}

@inline(never) func mutateWithValue(_ i: Int) -> Int {
    let local = ThreadLocal { Counter(x: i) }
    return local.withValue {
        $0.x += 2
        return $0.x
    }
}

@inline(never) func assignThenClear(_ i: Int, _ counter: LifetimeCounter) {
    let local = ThreadLocal<LifetimeTracked<Int>?>()
    local.value = LifetimeTracked(i, counter: counter)
    local.value = LifetimeTracked(-i, counter: counter)
    local.value = nil
}

@inline(never) func dynamicMemberWrite(_ i: Int) -> Int {
    let local = ThreadLocal { Counter(x: 0) }
    local.x = i
    return local.x
}

@inline(never) func takeBack(_ i: Int) -> Int? {
    let local = ThreadLocal { Holder(i) }
    _ = local.value
    return local.take()?.x
}

@inline(never) func exchangeBack(_ i: Int) -> Int? {
    let local = ThreadLocal { Holder(i) }
    _ = local.value
    return local.exchange(Holder(-1))?.x
}

@inline(never) func peek(_ i: Int) -> Int? {
    let local = ThreadLocal { Counter(x: i) }
    _ = local.value
    return local.valueIfPresent?.x
}
