// SPDX-License-Identifier: Apache-2.0
import Testing
import ThreadLocals
import ThreadLocalsTestSupport

@Suite("ThreadLocal: take, exchange, valueIfPresent, optionals")
struct ValueManagementTests {
    @Test func takeRemovesTheValueWithoutReleasingIt() {
        let counter = LifetimeCounter()
        let local = ThreadLocal { LifetimeTracked(1, counter: counter) }
        #expect(local.take() == nil)  // no value yet: none is created
        #expect(counter.created == 0)
        local.value = LifetimeTracked(2, counter: counter)
        let taken = local.take()
        #expect(taken?.payload == 2)
        #expect(counter.live == 1)  // handed over, not released
        #expect(!local.hasValue)
        #expect(local.value.payload == 1)  // the next access runs the initializer
        #expect(counter.live == 2)
        _ = consume taken
        #expect(counter.live == 1)
    }

    @Test func takeOfAValueStoredInTheSlotWord() {
        let local = ThreadLocal { 10 }
        #expect(local.take() == nil)
        local.value += 5
        #expect(local.take() == 15)
        #expect(!local.hasValue)
        #expect(local.value == 10)
    }

    @Test func exchangeReturnsThePreviousValueAndSkipsTheInitializer() {
        let counter = LifetimeCounter()
        let initializations = Locked(0)
        let local = ThreadLocal {
            initializations.withLock { $0 += 1 }
            return LifetimeTracked(0, counter: counter)
        }
        #expect(local.exchange(LifetimeTracked(1, counter: counter)) == nil)
        #expect(initializations.withLock { $0 } == 0)
        let previous = local.exchange(LifetimeTracked(2, counter: counter))
        #expect(previous?.payload == 1)
        #expect(local.value.payload == 2)
        #expect(initializations.withLock { $0 } == 0)
        _ = consume previous
        #expect(counter.live == 1)
    }

    @Test func valueIfPresentNeverCreates() {
        let local = ThreadLocal { [1, 2, 3] }
        #expect(local.valueIfPresent == nil)
        #expect(!local.hasValue)
        local.value.append(4)
        #expect(local.valueIfPresent == [1, 2, 3, 4])
        let other = onNewThread { local.valueIfPresent }
        #expect(other == nil)  // another thread's value is its own
    }

    @Test func anOptionalThatStartsAsNilIsStoredByTheFirstRead() {
        let requestID = ThreadLocal<String?>()
        #expect(!requestID.hasValue)
        #expect(requestID.valueIfPresent == nil)
        #expect(requestID.value == nil)
        #expect(requestID.hasValue)  // like any initial value, stored by the first read
        #expect(requestID.valueIfPresent == nil)  // and still no ID
        requestID.value = "req-42"
        #expect(requestID.valueIfPresent == "req-42")
        requestID.reset()
        #expect(!requestID.hasValue)
    }

    @Test func valueIfPresentOfAnOptionalIsOneOptional() {
        let requestID = ThreadLocal<String?>()
        var bound: [String] = []
        if let id = requestID.valueIfPresent { bound.append(id) }  // no value
        requestID.value = nil
        if let id = requestID.valueIfPresent { bound.append(id) }  // a nil value
        requestID.value = "req-42"
        if let id = requestID.valueIfPresent { bound.append(id) }
        #expect(bound == ["req-42"])
        let flat = requestID.valueIfPresent
        #expect(type(of: flat) == String?.self)
    }

    /// One rule for optionals: every accessor that returns "the value, if
    /// any" answers `nil` both for no value and for a `nil` value, in concrete
    /// and in generic code alike.
    @Test func genericCodeAnswersAsConcreteCode() {
        func present<T>(_ local: ThreadLocal<T>) -> T? { local.valueIfPresent }
        func take<T>(_ local: ThreadLocal<T>) -> T? { local.take() }
        func exchange<T>(_ local: ThreadLocal<T>, _ value: T) -> T? { local.exchange(value) }
        let requestID = ThreadLocal<String?>()
        #expect(present(requestID) == .none)
        requestID.value = nil
        #expect(requestID.valueIfPresent == nil)
        #expect(present(requestID) == .none)
        #expect(exchange(requestID, nil) == .none)
        #expect(exchange(requestID, "a") == .none)
        #expect(present(requestID) == .some("a"))
        #expect(take(requestID) == .some("a"))
        #expect(!requestID.hasValue)
        #expect(take(requestID) == .none)
        requestID.value = nil
        #expect(take(requestID) == .none)
        #expect(!requestID.hasValue)  // the nil value was removed all the same
    }

    @Test func takeAndExchangeOfAnOptionalAreOneOptional() {
        struct Call: Equatable { var name: String }
        let current = ThreadLocal<Call?>()
        #expect(type(of: current.take()) == Call?.self)
        #expect(type(of: current.exchange(nil)) == Call?.self)
        #expect(current.exchange(Call(name: "a")) == nil)  // a nil value
        var previous: Call? = current.exchange(Call(name: "b"))
        #expect(previous == Call(name: "a"))
        previous = current.take()
        #expect(previous == Call(name: "b"))
        #expect(current.take() == nil)  // no value
        #expect(!current.hasValue)
    }

    @Test func takeAndExchangeOfOtherTypesKeepTheirOwnNil() {
        let flag = ThreadLocal { Flag(isOn: true) }
        #expect(flag.exchange(nil) == Flag?.none)  // no value before
        #expect(flag.exchange(Flag(isOn: true)) == Flag?.some(Flag(isOn: false)))
        #expect(flag.take() == Flag?.some(Flag(isOn: true)))
    }
}

/// A type that can be written `nil` but is not an `Optional`.
private struct Flag: ExpressibleByNilLiteral, Equatable, Sendable {
    var isOn: Bool
    init(isOn: Bool) { self.isOn = isOn }
    init(nilLiteral: ()) { self.isOn = false }
}

@Suite("ThreadLocal: which valueIfPresent applies")
struct ValueIfPresentOverloadTests {
    /// Only `Optional` gets the one-level overload: for another type that can
    /// be written `nil`, "no value" stays apart from the value `nil`.
    @Test func nilLiteralTypeThatIsNotOptionalGetsAnOptional() {
        let flag = ThreadLocal { Flag(isOn: true) }
        let before = flag.valueIfPresent
        #expect(type(of: before) == Flag?.self)
        #expect(before == Flag?.none)
        flag.value = nil
        let after = flag.valueIfPresent
        #expect(after == Flag?.some(Flag(isOn: false)))
    }

    /// For an `Optional`, a `Value?` annotation does not reach the general
    /// overload: the one-level result is wrapped, so "no value" and "a `nil`
    /// value" both read `.some(nil)`. Generic code and `hasValue` tell them
    /// apart.
    @Test func typeAnnotationWrapsTheOneLevelResult() {
        let requestID = ThreadLocal<String?>()
        let absent: String?? = requestID.valueIfPresent
        #expect(absent == String??.some(nil))
        #expect(!requestID.hasValue)
        requestID.value = nil
        let setToNil: String?? = requestID.valueIfPresent
        #expect(setToNil == String??.some(nil))
        #expect(requestID.hasValue)
    }

    /// A doubly optional value loses one level, like every optional: `Int??`.
    @Test func doublyOptionalValueIsOneLevelLess() {
        let local = ThreadLocal<Int??> { nil }
        #expect(type(of: local.valueIfPresent) == Int??.self)
        #expect(local.valueIfPresent == Int??.none)  // no value
        local.value = .some(nil)
        #expect(local.valueIfPresent == Int??.some(nil))
        local.value = .some(.some(1))
        #expect(local.valueIfPresent == Int??.some(1))
    }
}
