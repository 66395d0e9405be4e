// SPDX-License-Identifier: Apache-2.0
import Synchronization

/// Counts live instances of tracked objects, so that tests can prove every
/// value was released exactly once: nothing leaked, nothing released twice.
///
/// Each test makes its own `LifetimeCounter`, so tests running in parallel do
/// not see each other's instances.
public final class LifetimeCounter: Sendable {
    private let _live = Atomic<Int>(0)
    private let _created = Atomic<Int>(0)
    private let _released = Atomic<Int>(0)

    public init() {}

    /// Instances created and not yet deinitialized.
    public var live: Int { _live.load(ordering: .sequentiallyConsistent) }
    /// Instances created so far.
    public var created: Int { _created.load(ordering: .sequentiallyConsistent) }
    /// Instances deinitialized so far.
    public var released: Int { _released.load(ordering: .sequentiallyConsistent) }

    fileprivate func didCreate() {
        _created.add(1, ordering: .sequentiallyConsistent)
        _live.add(1, ordering: .sequentiallyConsistent)
    }

    fileprivate func didRelease() {
        _released.add(1, ordering: .sequentiallyConsistent)
        let before = _live.subtract(1, ordering: .sequentiallyConsistent).oldValue
        precondition(before > 0, "LifetimeTracked: an instance was released twice")
    }
}

/// An object that reports its creation and deinitialization to a
/// `LifetimeCounter`, carrying a payload for tests to check.
public final class LifetimeTracked<Payload: Sendable>: Sendable {
    public let payload: Payload
    public let counter: LifetimeCounter
    /// Called from `deinit`, on the thread that releases the object.
    private let onDeinit: (@Sendable (Payload) -> Void)?

    public init(_ payload: Payload, counter: LifetimeCounter, onDeinit: (@Sendable (Payload) -> Void)? = nil) {
        self.payload = payload
        self.counter = counter
        self.onDeinit = onDeinit
        counter.didCreate()
    }

    deinit {
        onDeinit?(payload)
        counter.didRelease()
    }
}

/// A struct holding a tracked object: a value that is not a class itself but
/// owns one.
public struct TrackedPair<Payload: Sendable>: Sendable {
    public var name: String
    public var tracked: LifetimeTracked<Payload>

    public init(name: String, tracked: LifetimeTracked<Payload>) {
        self.name = name
        self.tracked = tracked
    }
}
