// SPDX-License-Identifier: Apache-2.0
// Counter increments through swift-metrics from 1, 2 and 4 threads, for three backends:
// ThreadLocalMetricsFactory (a ThreadLocalCounter per counter), a handler on a shared
// Atomic<Int64>, and swift-prometheus 2's counter. After each run, with every thread
// exited, the exported value must equal the number of increments exactly (exit 1 if not).
//
//     swift run -c release MetricsBenchmark [--smoke] [--increments N] [--rounds R] [--markdown FILE]

import BenchmarkThreads
import CoreMetrics
import Foundation
import Prometheus
import Synchronization
import ThreadLocalMetrics

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

// MARK: - The backends

/// A counter on one shared atomic: every increment is an atomic add to the same cache line.
final class AtomicCounterHandler: CounterHandler {
    let count = Atomic<Int64>(0)
    func increment(by amount: Int64) { count.wrappingAdd(amount, ordering: .relaxed) }
    func reset() { count.store(0, ordering: .relaxed) }
}

/// A factory that makes `AtomicCounterHandler`s (counters only).
final class AtomicMetricsFactory: MetricsFactory {
    let handlers = Mutex<[String: AtomicCounterHandler]>([:])
    func makeCounter(label: String, dimensions: [(String, String)]) -> any CounterHandler {
        handlers.withLock { handlers in
            if let handler = handlers[label] { return handler }
            let handler = AtomicCounterHandler()
            handlers[label] = handler
            return handler
        }
    }
    func makeRecorder(label: String, dimensions: [(String, String)], aggregate: Bool) -> any RecorderHandler {
        NOOPMetricsHandler.instance
    }
    func makeTimer(label: String, dimensions: [(String, String)]) -> any TimerHandler { NOOPMetricsHandler.instance }
    func destroyCounter(_ handler: any CounterHandler) {}
    func destroyRecorder(_ handler: any RecorderHandler) {}
    func destroyTimer(_ handler: any TimerHandler) {}
    /// The counter's value in the exposition format, like the other backends.
    func exposition() -> String {
        handlers.withLock { $0.map { "\($0.key) \($0.value.count.load(ordering: .relaxed))\n" }.joined() }
    }
}

/// A fresh factory of one backend and a way to read its exported text.
struct Backend {
    var name: String
    var make: () -> (factory: any MetricsFactory, export: () -> String)
}

let backends = [
    Backend(name: "ThreadLocalCounter") {
        let factory = ThreadLocalMetricsFactory()
        return (factory, factory.exposition)
    },
    Backend(name: "Atomic<Int64>") {
        let factory = AtomicMetricsFactory()
        return (factory, factory.exposition)
    },
    Backend(name: "swift-prometheus 2") {
        let registry = PrometheusCollectorRegistry()
        return (
            PrometheusMetricsFactory(registry: registry),
            {
                var buffer: [UInt8] = []
                registry.emit(into: &buffer)
                return String(decoding: buffer, as: UTF8.self)
            }
        )
    },
]

/// The value of `label` (no dimensions) in a Prometheus text exposition.
func exportedValue(_ label: String, in text: String) -> Double? {
    for line in text.split(separator: "\n") where !line.hasPrefix("#") {
        let fields = line.split(separator: " ")
        if fields.count == 2, fields[0] == label { return Double(fields[1]) }
    }
    return nil
}

// MARK: - Threads (started and pinned with BenchmarkThreads, from the benchmark package)

/// The calling thread's CPU time, in nanoseconds.
func threadCPUTime() -> Double {
    var time = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &time)
    return Double(time.tv_sec) * 1e9 + Double(time.tv_nsec)
}

/// What one run measured: the wall time from the first thread's start to the last
/// one's end, and the threads' mean CPU time (both in nanoseconds).
struct Timing {
    var wall: Double
    var cpu: Double
}

/// Runs `increments` increments of `counter` on each of `threads` new threads, started
/// together, and waits until every thread has exited (joined).
func run(_ counter: CoreMetrics.Counter, threads: Int, increments: Int) -> Timing {
    let ready = Atomic<Int>(0)
    let go = Atomic<Bool>(false)
    let spans = Mutex<[(start: ContinuousClock.Instant, end: ContinuousClock.Instant, cpu: Double)]>([])
    let handles = (0..<threads).map { index in
        startThread {
            pin(index)
            ready.add(1, ordering: .acquiringAndReleasing)
            while !go.load(ordering: .acquiring) { sched_yield() }
            let start = ContinuousClock.now
            let cpuStart = threadCPUTime()
            for _ in 0..<increments { counter.increment() }
            let cpu = threadCPUTime() - cpuStart
            let end = ContinuousClock.now
            spans.withLock { $0.append((start, end, cpu)) }
        }
    }
    while ready.load(ordering: .acquiring) < threads { sched_yield() }
    go.store(true, ordering: .releasing)
    for handle in handles { pthread_join(handle, nil) }
    return spans.withLock { spans in
        let wall = spans.map(\.end).max()! - spans.map(\.start).min()!
        return Timing(
            wall: Double(wall.components.seconds) * 1e9 + Double(wall.components.attoseconds) / 1e9,
            cpu: spans.map(\.cpu).reduce(0, +) / Double(threads)
        )
    }
}

// MARK: - Main

var smoke = false
var increments = 10_000_000
var rounds = 5
var markdownPath: String?
var arguments = CommandLine.arguments.dropFirst()
while let argument = arguments.popFirst() {
    switch argument {
    case "--smoke": smoke = true
    case "--increments": increments = arguments.popFirst().flatMap { Int($0) } ?? increments
    case "--rounds": rounds = arguments.popFirst().flatMap { Int($0) } ?? rounds
    case "--markdown": markdownPath = arguments.popFirst()
    default:
        print("usage: MetricsBenchmark [--smoke] [--increments N] [--rounds R] [--markdown FILE]")
        exit(2)
    }
}
if smoke {
    increments = 1_000_000
    rounds = 1
}

var failures = 0
@MainActor func check(_ condition: Bool, _ message: @autoclosure () -> String) {
    if !condition {
        print("FAILED: \(message())")
        failures += 1
    }
}

let threadCounts = [1, 2, 4]
var timings: [String: [Int: [Timing]]] = [:]
for round in 1...rounds {
    for threads in threadCounts {
        for backend in backends {
            let (factory, export) = backend.make()
            let counter = CoreMetrics.Counter(label: "bench_increments_total", dimensions: [], factory: factory)
            let timing = run(counter, threads: threads, increments: increments)
            let expected = Double(threads * increments)
            let exported = exportedValue("bench_increments_total", in: export())
            check(
                exported == expected,
                "\(backend.name), \(threads) threads, round \(round): exported \(exported.map { "\($0)" } ?? "nothing"), expected \(expected)"
            )
            timings[backend.name, default: [:]][threads, default: []].append(timing)
        }
    }
}

// Floating-point counters: 0.5 is exact in binary, so every sum here is exact.
do {
    let factory = ThreadLocalMetricsFactory()
    let counter = CoreMetrics.FloatingPointCounter(label: "bench_seconds_total", dimensions: [], factory: factory)
    let threads = 4
    let perThread = smoke ? 10_000 : 1_000_000
    let handles = (0..<threads).map { _ in startThread { for _ in 0..<perThread { counter.increment(by: 0.5) } } }
    for handle in handles { pthread_join(handle, nil) }
    let exported = exportedValue("bench_seconds_total", in: factory.exposition())
    check(
        exported == Double(threads * perThread) / 2,
        "floating-point counter: exported \(exported.map { "\($0)" } ?? "nothing"), expected \(Double(threads * perThread) / 2)"
    )
}

/// The median of each measure over the rounds: on a shared machine a round may catch
/// the other threads descheduled (no contention) or this one preempted.
@MainActor func median(_ backend: String, _ threads: Int) -> Timing {
    func middle(_ values: [Double]) -> Double {
        let sorted = values.sorted()
        return sorted.count % 2 == 1
            ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
    }
    let all = timings[backend]![threads]!
    return Timing(wall: middle(all.map(\.wall)), cpu: middle(all.map(\.cpu)))
}

let cores = ProcessInfo.processInfo.activeProcessorCount
var table = """
    | threads | backend | CPU ns per increment | vs ThreadLocalCounter | M increments/s (wall, all threads) |
    |---:|---|---:|---:|---:|

    """
for threads in threadCounts {
    let reference = median("ThreadLocalCounter", threads).cpu
    for backend in backends {
        let timing = median(backend.name, threads)
        table += String(
            format: "| %d | %@ | %.2f | %.2f× | %.0f |\n",
            threads,
            backend.name,
            timing.cpu / Double(increments),
            timing.cpu / reference,
            Double(threads * increments) / timing.wall * 1e3
        )
    }
}
let note = """
    \(increments) increments per thread through swift-metrics' `Counter.increment()`, median of \(rounds) \
    round(s); thread i pinned to CPU i mod the number of CPUs. CPU ns: each thread's CPU time (CLOCK_THREAD_CPUTIME_ID) per increment, mean over the \
    threads, so time spent waiting for a core does not count. \(cores) cores; load average \(loadAverage()).
    """
print(table)
print(note)
if let markdownPath {
    try (table + "\n" + note + "\n").write(toFile: markdownPath, atomically: true, encoding: .utf8)
}

func loadAverage() -> String {
    (try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8))?.split(separator: " ").prefix(3).joined(
        separator: " "
    ) ?? "unknown"
}

if failures > 0 {
    print("\(failures) check(s) failed")
    exit(1)
}
print("exact: every exported value equals the number of increments, read after all threads exited")
