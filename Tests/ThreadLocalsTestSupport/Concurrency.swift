// SPDX-License-Identifier: Apache-2.0
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// A value guarded by a pthread mutex, for sharing between test threads.
///
/// Not `Synchronization.Mutex`: on Linux it hands a contended lock over in the
/// kernel, where ThreadSanitizer cannot see it, so contended uses are reported
/// as races. ThreadSanitizer intercepts pthread mutexes.
public final class Locked<Value>: @unchecked Sendable {
    // Sendable: `value` is only accessed with `mutex` held.
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private var value: Value

    public init(_ value: Value) {
        self.value = value
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        pthread_mutex_init(mutex, nil)
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    /// Calls `body` with the value, the mutex held.
    public func withLock<Result>(_ body: (inout Value) throws -> Result) rethrows -> Result {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body(&value)
    }
}

/// A flag that one thread raises and others poll, for stopping reader loops.
public final class StopFlag: Sendable {
    private let raised = Atomic<Bool>(false)

    public init() {}

    public func raise() { raised.store(true, ordering: .releasing) }

    public var isRaised: Bool { raised.load(ordering: .acquiring) }
}

/// What a reader thread saw while it polled a value that should never
/// decrease: how many reads, how many went down, the largest and the last.
public struct MonotonicityReport: Sendable {
    public var reads = 0
    public var decreases = 0
    public var largest = Int.min
    public var last = Int.min

    public init() {}

    /// Records one read.
    public mutating func record(_ value: Int) {
        if reads > 0 && value < last { decreases += 1 }
        reads += 1
        largest = max(largest, value)
        last = value
    }
}

/// Polls `read` on a new thread until `work`, run on the calling thread,
/// returns (and once more after), and reports what it saw.
public func pollWhile(
    _ read: @escaping @Sendable () -> Int,
    doing work: () -> Void
) -> MonotonicityReport {
    let shared = PollState()
    let reader = startThread {
        var local = MonotonicityReport()
        while !shared.stop.isRaised {
            local.record(read())
        }
        local.record(read())
        let final = local
        shared.report.withLock { $0 = final }
    }
    work()
    shared.stop.raise()
    joinThread(reader)
    return shared.report.withLock { $0 }
}

private final class PollState: Sendable {
    let stop = StopFlag()
    let report = Locked(MonotonicityReport())
}

/// What `takeWhileThreadsUpdate` saw: the sum of what `take` returned, how
/// many times it ran, and how many updates the threads made.
public struct TakesDuringUpdates: Sendable {
    public var taken = 0
    public var takes = 0
    public var updates = 0
}

/// Calls `take` again and again on a reader thread, and sums what it returns,
/// while one long-lived thread and ten rounds of two short-lived ones call
/// `update` `updatesPerThread` times each; returns once all of them are done.
public func takeWhileThreadsUpdate(
    updatesPerThread: Int,
    take: @escaping @Sendable () -> Int,
    update: @escaping @Sendable () -> Void
) -> TakesDuringUpdates {
    let stop = StopFlag()
    let seen = Locked(TakesDuringUpdates())
    let reader = startThread {
        while !stop.isRaised {
            let value = take()
            seen.withLock {
                $0.taken += value
                $0.takes += 1
            }
        }
    }
    let staying = startThread {
        for _ in 0..<updatesPerThread { update() }
    }
    let rounds = 10
    for _ in 0..<rounds {
        _ = onNewThreads(count: 2) { _ in
            for _ in 0..<updatesPerThread { update() }
        }
    }
    joinThread(staying)
    stop.raise()
    joinThread(reader)
    return seen.withLock {
        $0.updates = (1 + 2 * rounds) * updatesPerThread
        return $0
    }
}
