// SPDX-License-Identifier: Apache-2.0
// The per-thread aggregates: ThreadLocalCounter, ThreadLocalAccumulator.
//
// What is measured (the "1" and "S" rows join the sections of the same names
// in compare.sh's table):
// - "1 ...increment()/update": one thread, a counted loop of the operation in an
//   `@inline(never)` function (per operation: wall time of the sample / N);
// - "S ThreadLocalCounter, T threads": N increments of one logical counter split evenly over T
//   new threads (thread start and exit included, as in ScalingBenchmarks, whose
//   Atomic<Int> and Mutex<Int> cases are the baseline); the counter's sum() is
//   checked exactly after every sample, so the cells folded in at thread exit
//   are part of what is measured;
// - "A ThreadLocalCounter.sum(), T live threads": sum() while T threads that
//   have a cell are parked, per call.
//
// The thread counts beyond the machine's cores (8 on a 2-core machine) show
// that per-thread cells do not slow down when threads take turns.
// The AggregateScaling executable measures the same cases with per-thread CPU
// time and draws the README's chart.

import Benchmark
import BenchmarkSupport
import BenchmarkThreads
import HotLoops
import Synchronization
import ThreadLocals

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Threads that have a cell in `counter` and wait until `release()`.
final class ParkedThreads: @unchecked Sendable {
    // Sendable: the pthread objects are only used through their functions.
    private var mutex = pthread_mutex_t()
    private var condition = pthread_cond_t()
    private var ready = 0
    private var released = false
    private var threads: [pthread_t] = []

    init(count: Int, counter: ThreadLocalCounter) {
        pthread_mutex_init(&mutex, nil)
        pthread_cond_init(&condition, nil)
        for _ in 0..<count {
            threads.append(
                startThread { [self] in
                    counter.increment()
                    arriveAndWait()
                }
            )
        }
        pthread_mutex_lock(&mutex)
        while ready < count { pthread_cond_wait(&condition, &mutex) }
        pthread_mutex_unlock(&mutex)
    }

    private func arriveAndWait() {
        pthread_mutex_lock(&mutex)
        ready += 1
        pthread_cond_broadcast(&condition)
        while !released { pthread_cond_wait(&condition, &mutex) }
        pthread_mutex_unlock(&mutex)
    }

    func release() {
        pthread_mutex_lock(&mutex)
        released = true
        pthread_cond_broadcast(&condition)
        pthread_mutex_unlock(&mutex)
        for thread in threads { pthread_join(thread, nil) }
    }
}

/// A counter with `count` parked threads that each added 1, started on first use.
final class Parked: Sendable {
    private let state: Mutex<(counter: ThreadLocalCounter, threads: ParkedThreads?)>
    private let count: Int

    init(_ count: Int) {
        self.count = count
        state = Mutex((ThreadLocalCounter(), nil))
    }

    var counter: ThreadLocalCounter {
        state.withLock { state in
            if state.threads == nil {
                state.threads = ParkedThreads(count: count, counter: state.counter)
            }
            return state.counter
        }
    }
}

let hotCounter = ThreadLocalCounter()
let hotAccumulator = ThreadLocalAccumulator(initial: 0) { $0 &+= $1 }

let benchmarks: @Sendable () -> Void = {
    perOperation("1 ThreadLocalCounter.increment()", operations: 1 << 20) { n in
        counterIncrements(hotCounter, n)
        return n
    }
    perOperation("1 ThreadLocalAccumulator<Int>.update { $0 &+= 1 }", operations: 1 << 16) { n in
        accumulatorUpdates(hotAccumulator, n)
        return n
    }
    for threads in [1, 2, 4, 8] {
        perOperation(
            "S ThreadLocalCounter, \(threads) threads",
            operations: 1 << 26,
            maxDuration: .milliseconds(300),
            maxIterations: 30,
            warmupIterations: 1
        ) { n in
            let counter = ThreadLocalCounter()
            onNewThreads(threads) { _ in counterIncrements(counter, n / threads) }
            let sum = counter.sum()
            precondition(sum == n / threads * threads, "ThreadLocalCounter lost increments")
            return sum
        }
    }
    for threads in [1, 8, 64] {
        // The threads are started by the first sample and stay parked (with
        // their cells) until the process exits.
        let parked = Parked(threads)
        perOperation("A ThreadLocalCounter.sum(), \(threads) live threads", operations: 1 << 12) { n in
            let counter = parked.counter
            var total = 0
            for _ in 0..<n { total &+= counter.sum() }
            precondition(total == threads * n, "ThreadLocalCounter.sum() is wrong")
            return total
        }
    }
}
