// SPDX-License-Identifier: Apache-2.0
// Helpers shared by the benchmark targets: how a benchmark declares how many
// operations one sample performs (threads: BenchmarkThreads).
//
// What is measured is up to each benchmark; this file only sets the common
// configuration: wall clock (with percentiles), throughput (needed by the JMH
// export), allocations, and the `operations per sample` metric that
// `Scripts/results.py` divides the wall time by to get time per operation.

import Benchmark

/// Recorded once per sample with the number of operations the sample performed.
public let operationsPerSample = BenchmarkMetric.custom("operations per sample")

/// Recorded once per sample by benchmarks that time their operations from
/// inside (e.g. on the thread they start): the nanoseconds that the sample's
/// operations took in all. `Scripts/results.py` uses it instead of the wall
/// time when present.
public let innerNanosecondsPerSample = BenchmarkMetric.custom("inner time per sample (ns)")

/// Registers a benchmark whose every sample calls `body(operations)`, which
/// performs `operations` operations and returns a value that is kept alive,
/// or, with `timedInside`, the nanoseconds the operations took, timed by the
/// body itself (so that work around them, such as starting a thread, is not
/// counted; recorded as `innerNanosecondsPerSample`).
///
/// Samples should take well over the timer's overhead (aim for 0.2 ms and
/// more), so that the time per operation is the operation's, not the clock's.
public func perOperation(
    _ name: String,
    operations: Int,
    timedInside: Bool = false,
    maxDuration: Duration = .milliseconds(100),
    maxIterations: Int = 2_000,
    warmupIterations: Int = 3,
    setup: (@Sendable () -> Void)? = nil,
    _ body: @escaping @Sendable (Int) -> Int
) {
    var metrics: [BenchmarkMetric] = [.wallClock, .throughput, .mallocCountTotal, operationsPerSample]
    if timedInside { metrics.append(innerNanosecondsPerSample) }
    Benchmark(
        name,
        configuration: .init(
            metrics: metrics,
            timeUnits: .nanoseconds,
            warmupIterations: warmupIterations,
            maxDuration: maxDuration,
            maxIterations: maxIterations,
            setup: setup.map { setup in { setup() } }
        )
    ) { benchmark in
        let result = body(operations)
        benchmark.measurement(operationsPerSample, operations)
        if timedInside {
            benchmark.measurement(innerNanosecondsPerSample, result)
        } else {
            blackHole(result)
        }
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
