// SPDX-License-Identifier: Apache-2.0
// Measures, in one run, per-operation costs of contended and per-thread counting.
//
// Each configuration starts `threads` POSIX threads that wait at a barrier, then each does
// `ops` operations in a counted loop. Reported per configuration (the minimum of `rounds`
// runs):
//
// - cpu ns/op: the threads' own CPU time (CLOCK_THREAD_CPUTIME_ID) divided by their
//   operations, averaged over threads: the cost of one operation, which is what grows
//   when threads contend for a cache line. With more threads than cores, threads take
//   turns, and this figure stays meaningful while wall-clock time does not.
// - wall ns/op: wall-clock time of the whole run divided by all operations (all threads).
//
// The machine this runs on may have fewer cores than threads; the report says how many.
//
//     swift run -c release --package-path Benchmarks AggregateScaling [--ops N] [--rounds N] [--json FILE]
//
// Benchmarks/Scripts/scaling_chart.py draws Benchmarks/Results/scaling.svg from the JSON.

import BenchmarkThreads
import Dispatch
import HotLoops
import Synchronization
import ThreadLocals

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

// MARK: - Threads and clocks

func nanoseconds(_ clock: clockid_t) -> Double {
    var ts = timespec()
    clock_gettime(clock, &ts)
    return Double(ts.tv_sec) * 1e9 + Double(ts.tv_nsec)
}

/// Blocks each caller until `count` callers have arrived. One use only.
final class Barrier: Sendable {
    private let count: Int
    private let arrived = Atomic<Int>(0)
    private let open = DispatchSemaphore(value: 0)

    init(count: Int) { self.count = count }

    func wait() {
        if arrived.add(1, ordering: .acquiringAndReleasing).newValue == count {
            for _ in 1..<count { open.signal() }
        } else {
            open.wait()
        }
    }
}

/// Per-thread CPU times and wall-clock intervals, each written by its own thread.
final class Times: @unchecked Sendable {
    let cpu: UnsafeMutablePointer<Double>
    let start: UnsafeMutablePointer<Double>
    let end: UnsafeMutablePointer<Double>
    init(count: Int) {
        cpu = .allocate(capacity: count)
        start = .allocate(capacity: count)
        end = .allocate(capacity: count)
        for p in [cpu, start, end] { p.initialize(repeating: 0, count: count) }
    }
}

struct Measurement {
    /// Threads' CPU time per operation, averaged over threads.
    var cpu: Double
    /// Wall-clock time from the first thread's start to the last one's end, per operation
    /// of all threads.
    var wall: Double
    /// How much of the threads' running time overlapped: 1 when all ran side by side
    /// (only possible with as many cores as threads), lower when they took turns.
    var overlap: Double
}

/// Runs `work(threadIndex)` on `threads` pinned threads at once.
func measure(threads: Int, ops: Int, _ work: @escaping @Sendable (Int) -> Void) -> Measurement {
    let start = Barrier(count: threads)
    let times = Times(count: threads)
    let handles = (0..<threads).map { index in
        startThread {
            pin(index)
            start.wait()
            let w0 = nanoseconds(CLOCK_MONOTONIC)
            let t0 = nanoseconds(CLOCK_THREAD_CPUTIME_ID)
            work(index)
            times.cpu[index] = nanoseconds(CLOCK_THREAD_CPUTIME_ID) - t0
            times.start[index] = w0
            times.end[index] = nanoseconds(CLOCK_MONOTONIC)
        }
    }
    for handle in handles { pthread_join(handle, nil) }
    let indices = 0..<threads
    let cpu = indices.map { times.cpu[$0] }.reduce(0, +) / Double(threads) / Double(ops)
    let first = indices.map { times.start[$0] }.min()!
    let last = indices.map { times.end[$0] }.max()!
    let together = indices.map { times.end[$0] }.min()! - indices.map { times.start[$0] }.max()!
    let mean = indices.map { times.end[$0] - times.start[$0] }.reduce(0, +) / Double(threads)
    return Measurement(
        cpu: cpu,
        wall: (last - first) / Double(threads * ops),
        overlap: max(0, together) / mean
    )
}

// MARK: - The operations, each in its own counted loop (the aggregates' in HotLoops)

@inline(never)
func plainThreadLocal(_ variable: ThreadLocal<Int>, _ ops: Int) {
    for _ in 0..<ops { variable.value &+= 1 }
}

final class SharedAtomic: Sendable {
    let value = Atomic<Int>(0)
}

@inline(never)
func atomicAdds(_ shared: SharedAtomic, _ ops: Int) {
    for _ in 0..<ops { shared.value.wrappingAdd(1, ordering: .relaxed) }
}

final class SharedMutex: Sendable {
    let value = Mutex<Int>(0)
}

@inline(never)
func mutexAdds(_ shared: SharedMutex, _ ops: Int) {
    for _ in 0..<ops { shared.value.withLock { $0 &+= 1 } }
}

/// One `Atomic<Int>` per thread, `stride` bytes apart: 8 puts every thread's cell on the
/// same cache line (false sharing), 128 gives each its own, as ThreadLocalCounter does.
final class Cells: @unchecked Sendable {
    // Sendable: each thread touches only its own cell, through atomic operations.
    let base: UnsafeMutableRawPointer
    let stride: Int
    init(count: Int, stride: Int) {
        self.stride = stride
        base = .allocate(byteCount: count * stride, alignment: 128)
        for index in 0..<count {
            (base + index * stride).bindMemory(to: Atomic<Int>.self, capacity: 1).initialize(to: Atomic(0))
        }
    }
    func cell(_ index: Int) -> UnsafeMutablePointer<Atomic<Int>> {
        (base + index * stride).assumingMemoryBound(to: Atomic<Int>.self)
    }
}

/// The counter's own operation (relaxed load, add, relaxed store) on a given cell.
@inline(never)
func cellIncrements(_ cell: UnsafeMutablePointer<Atomic<Int>>, _ ops: Int) {
    for _ in 0..<ops {
        cell.pointee.store(cell.pointee.load(ordering: .relaxed) &+ 1, ordering: .relaxed)
    }
}

// MARK: - Main

/// `value` with `digits` decimals (no Foundation).
func fixed(_ value: Double, _ digits: Int) -> String {
    var scale = 1.0
    for _ in 0..<digits { scale *= 10 }
    let scaled = Int((value * scale).rounded())
    let whole = scaled / Int(scale)
    let fraction = String(abs(scaled) % Int(scale))
    if digits == 0 { return String(whole) }
    return "\(whole).\(String(repeating: "0", count: digits - fraction.count))\(fraction)"
}

var arguments = CommandLine.arguments.dropFirst()
var jsonPath: String? = nil
var ops = 50_000_000
var rounds = 5
while let argument = arguments.popFirst() {
    switch argument {
    case "--json": jsonPath = arguments.popFirst()
    case "--ops": ops = Int(arguments.popFirst()!)!
    case "--rounds": rounds = Int(arguments.popFirst()!)!
    default: fatalError("usage: AggregateScaling [--ops N] [--rounds N] [--json FILE]")
    }
}

let threadCounts = [1, 2, 4, 8]

struct Row {
    var name: String
    var threads: Int
    var best: Measurement
}
var rows: [Row] = []

/// One configuration: a name, how many times fewer operations it does than `ops`, and a
/// maker of the per-thread work for `ops / scale` operations.
struct Variant {
    var name: String
    var scale: Int
    var make: (Int) -> (@Sendable (Int) -> Void)
}

let variants: [Variant] = [
    Variant(name: "ThreadLocal<Int>", scale: 1) { n in
        let variable = ThreadLocal { 0 }
        return { _ in plainThreadLocal(variable, n) }
    },
    Variant(name: "ThreadLocalCounter", scale: 1) { n in
        let counter = ThreadLocalCounter()
        return { _ in counterIncrements(counter, n) }
    },
    Variant(name: "Atomic<Int>.wrappingAdd", scale: 5) { n in
        let shared = SharedAtomic()
        return { _ in atomicAdds(shared, n) }
    },
    // Oversubscribed, a contended Mutex hands over in the kernel: each operation can take
    // tens of microseconds, so it does far fewer.
    Variant(name: "Mutex<Int>", scale: 1000) { n in
        let shared = SharedMutex()
        return { _ in mutexAdds(shared, n) }
    },
    Variant(name: "ThreadLocalAccumulator<Int>", scale: 10) { n in
        let accumulator = ThreadLocalAccumulator(initial: 0) { $0 &+= $1 }
        return { _ in accumulatorUpdates(accumulator, n) }
    },
    Variant(name: "cells 8 bytes apart (false sharing)", scale: 1) { n in
        let cells = Cells(count: 8, stride: 8)
        return { index in cellIncrements(cells.cell(index), n) }
    },
    Variant(name: "cells 128 bytes apart", scale: 1) { n in
        let cells = Cells(count: 8, stride: 128)
        return { index in cellIncrements(cells.cell(index), n) }
    },
]

// Rounds interleave the variants, so that a change in the machine's load during the run
// affects them alike; each keeps its round with the median CPU time per operation (the
// minimum would favour rounds in which the threads happened not to run side by side,
// hiding contention).
for threads in threadCounts {
    var results = Array(repeating: [Measurement](), count: variants.count)
    for _ in 0..<rounds {
        for (index, variant) in variants.enumerated() {
            let n = ops / variant.scale
            results[index].append(measure(threads: threads, ops: n, variant.make(n)))
        }
    }
    for (index, variant) in variants.enumerated() {
        let best = results[index].sorted { $0.cpu < $1.cpu }[rounds / 2]
        rows.append(Row(name: variant.name, threads: threads, best: best))
        print(
            variant.name,
            threads,
            "threads:",
            fixed(best.cpu, 2),
            "cpu ns/op,",
            fixed(best.wall, 2),
            "wall ns/op,",
            "overlap",
            fixed(best.overlap, 2)
        )
    }
}

// sum() as the number of threads with a live cell grows.
struct SumRow {
    var threads: Int
    var ns: Double
}
var sumRows: [SumRow] = []
for threads in [1, 2, 4, 8, 16, 32, 64, 128, 256] {
    let counter = ThreadLocalCounter()
    let ready = Barrier(count: threads + 1)
    let done = Barrier(count: threads + 1)
    let handles = (0..<threads).map { _ in
        startThread {
            counter.increment()
            ready.wait()
            done.wait()
        }
    }
    ready.wait()
    let calls = 20_000
    var best = Double.infinity
    var check = 0
    for _ in 0..<rounds {
        let t0 = nanoseconds(CLOCK_MONOTONIC)
        for _ in 0..<calls { check &+= counter.sum() }
        best = min(best, (nanoseconds(CLOCK_MONOTONIC) - t0) / Double(calls))
    }
    precondition(check == threads * calls * rounds)
    done.wait()
    for handle in handles { pthread_join(handle, nil) }
    sumRows.append(SumRow(threads: threads, ns: best))
    print("sum() with", threads, "live threads:", fixed(best, 1), "ns")
}

if let jsonPath {
    var json = "{\n  \"cores\": \(cpuCount),\n  \"ops\": \(ops),\n  \"rounds\": \(rounds),\n  \"increment\": [\n"
    json += rows.map {
        "    {\"name\": \"\($0.name)\", \"threads\": \($0.threads), \"cpu_ns\": \(fixed($0.best.cpu, 3)), "
            + "\"wall_ns\": \(fixed($0.best.wall, 3)), \"overlap\": \(fixed($0.best.overlap, 2))}"
    }.joined(separator: ",\n")
    json += "\n  ],\n  \"sum\": [\n"
    json += sumRows.map { "    {\"threads\": \($0.threads), \"ns\": \(fixed($0.ns, 2))}" }.joined(separator: ",\n")
    json += "\n  ]\n}\n"
    let file = fopen(jsonPath, "w")!
    fputs(json, file)
    fclose(file)
}
