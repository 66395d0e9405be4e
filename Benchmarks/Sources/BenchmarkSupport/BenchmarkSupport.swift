// Helpers shared by the benchmark targets: how a benchmark declares how many
// operations one sample performs, and how it runs work on fresh threads.
//
// What is measured is up to each benchmark; this file only sets the common
// configuration: wall clock (with percentiles), throughput (needed by the JMH
// export), allocations, and the `operations per sample` metric that
// `Scripts/results.py` divides the wall time by to get time per operation.

import Benchmark

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Recorded once per sample with the number of operations the sample performed.
public let operationsPerSample = BenchmarkMetric.custom("operations per sample")

/// Registers a benchmark whose every sample calls `body(operations)`, which
/// performs `operations` operations and returns a value that is kept alive.
///
/// Samples should take well over the timer's overhead (aim for 0.2 ms and
/// more), so that the time per operation is the operation's, not the clock's.
public func perOperation(
    _ name: String,
    operations: Int,
    maxDuration: Duration = .milliseconds(100),
    maxIterations: Int = 2_000,
    warmupIterations: Int = 3,
    setup: (@Sendable () -> Void)? = nil,
    _ body: @escaping @Sendable (Int) -> Int
) {
    Benchmark(
        name,
        configuration: .init(
            metrics: [.wallClock, .throughput, .mallocCountTotal, operationsPerSample],
            timeUnits: .nanoseconds,
            warmupIterations: warmupIterations,
            maxDuration: maxDuration,
            maxIterations: maxIterations,
            setup: setup.map { setup in { setup() } }
        )
    ) { benchmark in
        blackHole(body(operations))
        benchmark.measurement(operationsPerSample, operations)
    }
}

/// Runs `body(index)` on `count` new threads at once and waits for all of them
/// to exit (thread start, work and exit are all inside the call).
public func onNewThreads(_ count: Int, _ body: @escaping @Sendable (Int) -> Void) {
    var threads: [pthread_t] = []
    threads.reserveCapacity(count)
    for index in 0..<count {
        threads.append(startThread { body(index) })
    }
    for thread in threads {
        pthread_join(thread, nil)
    }
}

/// Starts a POSIX thread that runs `body`; the caller joins it.
public func startThread(_ body: @escaping @Sendable () -> Void) -> pthread_t {
    final class Work {
        let run: () -> Void
        init(_ run: @escaping () -> Void) { self.run = run }
    }
    // The thread takes over the +1 reference made here and releases it.
    let work = Unmanaged.passRetained(Work(body)).toOpaque()
    #if canImport(Darwin)
        var thread: pthread_t?
    #else
        var thread = pthread_t()
    #endif
    let status = pthread_create(
        &thread,
        nil,
        { argument in
            Unmanaged<Work>.fromOpaque(argument.unsafelyUnwrapped).takeRetainedValue().run()
            return nil
        },
        work
    )
    precondition(status == 0, "pthread_create failed: \(status)")
    #if canImport(Darwin)
        return thread!
    #else
        return thread
    #endif
}

/// Recorded once per sample by benchmarks that time their operations from
/// inside (e.g. on the thread they start): the nanoseconds that the sample's
/// operations took in all. `Scripts/results.py` uses it instead of the wall
/// time when present.
public let innerNanosecondsPerSample = BenchmarkMetric.custom("inner time per sample (ns)")

/// Registers a benchmark whose every sample calls `body(operations)`, which
/// performs `operations` operations and returns the nanoseconds they took,
/// timed by the body itself (so that work around them, such as starting a
/// thread, is not counted).
public func perOperationTimedInside(
    _ name: String,
    operations: Int,
    maxDuration: Duration = .milliseconds(200),
    maxIterations: Int = 2_000,
    _ body: @escaping @Sendable (Int) -> Int
) {
    Benchmark(
        name,
        configuration: .init(
            metrics: [.wallClock, .throughput, .mallocCountTotal, operationsPerSample, innerNanosecondsPerSample],
            timeUnits: .nanoseconds,
            warmupIterations: 3,
            maxDuration: maxDuration,
            maxIterations: maxIterations
        )
    ) { benchmark in
        let nanoseconds = body(operations)
        benchmark.measurement(operationsPerSample, operations)
        benchmark.measurement(innerNanosecondsPerSample, nanoseconds)
    }
}

/// The nanoseconds `body` takes (plus the cost of reading the clock twice,
/// which the "raw __thread" row of a comparison shows).
@inline(__always)
public func nanoseconds(_ body: () -> Void) -> Int {
    let start = ContinuousClock.now
    body()
    let elapsed = start.duration(to: .now)
    return Int(elapsed.components.seconds) * 1_000_000_000 + Int(elapsed.components.attoseconds / 1_000_000_000)
}
