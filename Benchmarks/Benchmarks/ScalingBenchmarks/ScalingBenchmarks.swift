// SPDX-License-Identifier: Apache-2.0
// Per-thread counters across 1, 2 and 4 threads.
//
// What is measured: N increments of one logical counter, split evenly over T
// new threads, per increment (wall time of the whole sample / N, thread start
// and exit included). N is large enough (tens of milliseconds of work) that
// the scheduler has spread the threads over the cores long before they end,
// and that starting threads is a small part of a sample. Three ways:
// - ThreadLocal<Int>: each thread increments its own value, then adds it to a
//   total once at the end (no shared cache line while counting);
// - Atomic<Int>.wrappingAdd (relaxed): every increment hits one shared line;
// - Mutex<Int>: every increment takes one shared lock.
// The per-thread counter should get cheaper per increment with more threads
// (up to the number of cores); the shared ones should not.

import Benchmark
import BenchmarkSupport
import BenchmarkThreads
import CRawTLS
import HotLoops
import Synchronization
import ThreadLocals

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

let benchmarks: @Sendable () -> Void = {
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
