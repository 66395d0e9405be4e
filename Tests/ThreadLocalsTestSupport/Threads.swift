// SPDX-License-Identifier: Apache-2.0
#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// Runs `body` on a new POSIX thread and waits for the thread to exit
/// (including its thread-local destructors) before returning what it returned.
public func onNewThread<Result: Sendable>(_ body: @escaping @Sendable () -> Result) -> Result {
    onNewThreads(count: 1) { _ in body() }[0]
}

/// Runs `body(i)` on `count` new POSIX threads at once, waits until all of them
/// have exited (thread-local destructors included), and returns their results
/// in index order.
public func onNewThreads<Result: Sendable>(
    count: Int,
    _ body: @escaping @Sendable (Int) -> Result
) -> [Result] {
    let results = ResultSlots<Result>(count: count)
    var threads: [pthread_t] = []
    for index in 0..<count {
        threads.append(startThread { results.set(index, body(index)) })
    }
    for thread in threads {
        pthread_join(thread, nil)
    }
    return results.values
}

/// Starts a POSIX thread running `body`; the caller must join it.
public func startThread(_ body: @escaping @Sendable () -> Void) -> pthread_t {
    let context = Unmanaged.passRetained(ThreadBody(body)).toOpaque()
    var thread = pthread_t()
    let status = pthread_create(
        &thread,
        nil,
        { raw in
            Unmanaged<ThreadBody>.fromOpaque(raw!).takeRetainedValue().body()
            return nil
        },
        context
    )
    precondition(status == 0, "pthread_create failed: \(status)")
    return thread
}

private final class ThreadBody: Sendable {
    let body: @Sendable () -> Void
    init(_ body: @escaping @Sendable () -> Void) { self.body = body }
}

/// One result per thread. Each thread writes only its own element; they are
/// read after every thread was joined (`pthread_join` orders the accesses).
private final class ResultSlots<Result>: @unchecked Sendable {
    // Sendable: see above. The elements are separate memory locations, so the
    // writers never touch the same memory.
    private let storage: UnsafeMutablePointer<Result?>
    private let count: Int

    init(count: Int) {
        self.count = count
        storage = .allocate(capacity: count)
        storage.initialize(repeating: nil, count: count)
    }

    deinit {
        storage.deinitialize(count: count)
        storage.deallocate()
    }

    func set(_ index: Int, _ value: Result) {
        storage[index] = value
    }

    var values: [Result] { (0..<count).map { storage[$0]! } }
}

/// A reusable barrier for `count` threads: every caller of `wait()` blocks
/// until `count` callers have arrived.
public final class ThreadBarrier: @unchecked Sendable {
    // Sendable: all state is guarded by the pthread mutex.
    private var mutex = pthread_mutex_t()
    private var condition = pthread_cond_t()
    private let count: Int
    private var arrived = 0
    private var generation = 0

    public init(count: Int) {
        self.count = count
        pthread_mutex_init(&mutex, nil)
        pthread_cond_init(&condition, nil)
    }

    deinit {
        pthread_cond_destroy(&condition)
        pthread_mutex_destroy(&mutex)
    }

    public func wait() {
        pthread_mutex_lock(&mutex)
        let myGeneration = generation
        arrived += 1
        if arrived == count {
            arrived = 0
            generation += 1
            pthread_cond_broadcast(&condition)
        } else {
            while generation == myGeneration {
                pthread_cond_wait(&condition, &mutex)
            }
        }
        pthread_mutex_unlock(&mutex)
    }
}

/// Waits for a thread started with `startThread` to exit, thread-local
/// destructors included.
public func joinThread(_ thread: pthread_t) {
    let status = pthread_join(thread, nil)
    precondition(status == 0, "pthread_join failed: \(status)")
}
