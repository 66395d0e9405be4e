// SPDX-License-Identifier: Apache-2.0
// Across 1, 2 and 4 threads.
//
// S rows, one counter: N increments of one logical counter, split evenly over
// T new threads, per increment (wall time of the whole sample / N, thread start
// and exit included). N is large enough (tens of milliseconds of work) that
// the scheduler has spread the threads over the cores long before they end,
// and that starting threads is a small part of a sample. Three ways:
// - ThreadLocal<Int>: each thread increments its own value, then adds it to a
//   total once at the end (no shared cache line while counting);
// - Atomic<Int>.wrappingAdd (relaxed): every increment hits one shared line;
// - Mutex<Int>: every increment takes one shared lock.
// The per-thread counter should get cheaper per increment with more threads
// (up to the number of cores); the shared ones should not.
//
// P rows, per-thread time: T new threads wait at a barrier, then each runs the
// same hot loop of HotLoops (n operations) and times it; a sample is the
// threads' mean time, per operation. A path that takes no shared lock is flat
// from 1 to 2 threads on 2 cores, like its pthread-key counterpart (with more
// threads than cores, each thread also waits its turn: compare with the
// pthread-key row of the same thread count).

import Benchmark
import BenchmarkSupport
import BenchmarkThreads
import CRawTLS
import HotLoops
import Synchronization
import ThreadLocals

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

let counter = ThreadLocal<Int> { 0 }

final class Shared: Sendable {
    let atomic = Atomic<Int>(0)
    let mutex = Mutex<Int>(0)
}

/// Registers one scaling case: few, long samples. A sample must stay under a
/// second even on a loaded machine: package-benchmark records no throughput
/// for longer samples, and its JMH export then drops the benchmark.
func scaling(_ name: String, operations: Int, _ body: @escaping @Sendable (Int) -> Int) {
    perOperation(
        name,
        operations: operations,
        maxDuration: .milliseconds(300),
        maxIterations: 30,
        warmupIterations: 1,
        body
    )
}

let fixtures = Fixtures()

/// The hot loops that the P rows run on 1, 2 and 4 threads: each path of the
/// C API and of ThreadLocal that has a pthread-key counterpart, and the
/// counterparts (results.py pairs them); with operations per thread for a loop
/// of 10 to 40 ms, long enough that the threads run side by side rather than
/// one after another in their time slices.
let perThreadLoops: [(label: String, operations: Int)] = [
    ("ctl_get_i64", 1 << 25), ("ctl_set_i64 + ctl_take", 1 << 21), ("ThreadLocal<Int> read", 1 << 25),
    ("ThreadLocal<Int> value &+= 1", 1 << 25), ("ThreadLocal<Class> read", 1 << 25),
    ("ThreadLocal<Int> value = x; reset()", 1 << 19), ("ThreadLocal<Int> take(); value = v", 1 << 19),
    ("pthread key + Int pointer read", 1 << 23), ("pthread key + Int pointer &+= 1", 1 << 23),
    ("pthread key + Unmanaged read, guaranteed ref", 1 << 23), ("pthread key set + get + clear", 1 << 21),
]
let perThreadCases = perThreadLoops.map { loop in (hotCases.first { $0.label == loop.label }!, loop.operations) }

/// `hotCase` on `threads` threads at once: their mean nanoseconds.
func perThreadNanoseconds(_ hotCase: HotCase, threads: Int, _ n: Int) -> Int {
    let arrived = Atomic<Int>(0)
    let total = Atomic<Int>(0)
    onNewThreads(threads) { _ in
        fixtures.prepareCurrentThread()
        arrived.wrappingAdd(1, ordering: .sequentiallyConsistent)
        while arrived.load(ordering: .sequentiallyConsistent) < threads { sched_yield() }
        total.wrappingAdd(nanoseconds { blackHole(hotCase.run(fixtures, n)) }, ordering: .relaxed)
    }
    return total.load(ordering: .relaxed) / threads
}

let benchmarks: @Sendable () -> Void = {
    for (hotCase, operations) in perThreadCases {
        for threads in [1, 2, 4] {
            perOperation(
                "P \(hotCase.label), \(threads) threads",
                operations: operations,
                timedInside: true,
                maxDuration: .milliseconds(300),
                maxIterations: 20,
                warmupIterations: 1
            ) { n in
                perThreadNanoseconds(hotCase, threads: threads, n)
            }
        }
    }
    for threads in [1, 2, 4] {
        scaling("S ThreadLocal<Int> per-thread counter, \(threads) threads", operations: 1 << 26) { n in
            let shared = Shared()
            onNewThreads(threads) { _ in
                let mine = threadLocalIntIncrement(counter, n / threads)
                shared.atomic.wrappingAdd(mine, ordering: .relaxed)
            }
            let total = shared.atomic.load(ordering: .relaxed)
            precondition(total == n / threads * threads)
            return total
        }
        scaling("S Atomic<Int>.wrappingAdd, \(threads) threads", operations: 1 << 23) { n in
            let shared = Shared()
            onNewThreads(threads) { _ in
                for _ in 0..<(n / threads) {
                    shared.atomic.wrappingAdd(1, ordering: .relaxed)
                    rtls_barrier()
                }
            }
            return shared.atomic.load(ordering: .relaxed)
        }
        scaling("S Mutex<Int> increment, \(threads) threads", operations: 1 << 18) { n in
            let shared = Shared()
            onNewThreads(threads) { _ in
                for _ in 0..<(n / threads) {
                    shared.mutex.withLock { $0 &+= 1 }
                    rtls_barrier()
                }
            }
            return shared.mutex.withLock { $0 }
        }
    }
}
