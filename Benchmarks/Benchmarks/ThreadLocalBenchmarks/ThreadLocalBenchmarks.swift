// SPDX-License-Identifier: Apache-2.0
// Single-thread comparison and lifecycle costs.
//
// What is measured:
// - Rows 1-8: one per-thread access (read, or read-modify-write), on one
//   thread that already holds its value, for every way a Swift program gets
//   per-thread state: raw `__thread` (the floor), the C slot API,
//   `ThreadLocal`, a pthread key by hand, swift-nio's ThreadSpecificVariable,
//   Foundation's threadDictionary, TaskLocal, and a Mutex-protected
//   dictionary keyed by thread id. The loops are HotLoops' functions, the same
//   code that `instructions.sh` counts instructions of.
// - Lifecycle (L rows): a thread's first access (lazy initialisation), thread
//   start and exit while holding K values, and creating and destroying
//   variables, also beyond the 1,024 pthread keys a process can have.

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

let fixtures = Fixtures()

/// Registers a hot single-thread case; the calling thread gets its values first
/// (outside the measured loop, once per thread).
func hot(_ name: String, _ operations: Int, _ loop: @escaping @Sendable (Int) -> Int) {
    perOperation(name, operations: operations) { n in
        fixtures.prepareCurrentThread()
        return loop(n)
    }
}

/// `K` variables whose values a thread creates and then releases at exit.
let classVariables = (0..<256).map { _ in ThreadLocal<Counter> { Counter() } }

/// `K` pthread keys holding a retained Counter each, released by the key's
/// destructor at thread exit: the same work, by hand.
let pthreadKeys: [pthread_key_t] = (0..<256).map { _ in
    var key = pthread_key_t()
    let status = pthread_key_create(&key) { pointer in
        // pthread calls destructors only for non-NULL values.
        Unmanaged<Counter>.fromOpaque(pointer.unsafelyUnwrapped).release()
    }
    precondition(status == 0, "pthread_key_create failed")
    return key
}

/// More live variables than a process can have pthread keys.
let manyLiveVariables = (0..<1_100).map { _ in ThreadLocal<Int> { 0 } }

let benchmarks: @Sendable () -> Void = {
    // Rows 1-8: every hot case of HotLoops.
    for hotCase in hotCases {
        hot("\(hotCase.row) \(hotCase.label)", hotCase.operations) { hotCase.run(fixtures, $0) }
    }

    // Lifecycle: one operation is one thread's whole life (start, work, exit).
    let threadsPerSample = 32
    perOperation("L thread start+exit, no thread-local", operations: threadsPerSample, maxDuration: .milliseconds(200))
    {
        n in
        for _ in 0..<n { onNewThreads(1) { _ in rtls_barrier() } }
        return n
    }
    // A thread's first access, timed on that thread (thread start and exit
    // are not counted): lazy initialisation, and for ThreadLocal the thread's
    // registration with the store. The raw __thread row is the floor (reading
    // the clock twice).
    func firstAccess(_ name: String, _ access: @escaping @Sendable () -> Void) {
        perOperation(
            "L first access on a fresh thread: \(name)",
            operations: threadsPerSample,
            timedInside: true,
            maxDuration: .milliseconds(200)
        ) { n in
            let total = Atomic<Int>(0)
            for _ in 0..<n {
                onNewThreads(1) { _ in total.wrappingAdd(nanoseconds(access), ordering: .relaxed) }
            }
            return total.load(ordering: .relaxed)
        }
    }
    firstAccess("raw __thread") { rtls_increment() }
    firstAccess("ThreadLocal<Int>") { fixtures.threadLocalInt.value &+= 1 }
    firstAccess("ThreadLocal<Class>") { fixtures.threadLocalClass.value.count &+= 1 }
    firstAccess("pthread key + Unmanaged box") {
        let key = fixtures.pthreadKey
        if pthread_getspecific(key) == nil {
            pthread_setspecific(key, Unmanaged.passRetained(Counter()).toOpaque())
        }
        Unmanaged<Counter>.fromOpaque(pthread_getspecific(key).unsafelyUnwrapped).takeUnretainedValue().count &+= 1
    }
    firstAccess("NIO ThreadSpecificVariable") {
        if fixtures.nioVariable.currentValue == nil {
            fixtures.nioVariable.currentValue = Counter()
        }
        fixtures.nioVariable.currentValue.unsafelyUnwrapped.count &+= 1
    }
    for k in [1, 16, 256] {
        perOperation(
            "L thread start+exit holding K=\(k) ThreadLocal<Class>",
            operations: threadsPerSample,
            maxDuration: .milliseconds(200)
        ) { n in
            for _ in 0..<n {
                onNewThreads(1) { _ in
                    for variable in classVariables[0..<k] { _ = variable.value }
                }
            }
            return n
        }
    }
    for k in [1, 16, 256] {
        perOperation(
            "L thread start+exit holding K=\(k) pthread keys",
            operations: threadsPerSample,
            maxDuration: .milliseconds(200)
        ) { n in
            for _ in 0..<n {
                onNewThreads(1) { _ in
                    for key in pthreadKeys[0..<k] {
                        pthread_setspecific(key, Unmanaged.passRetained(Counter()).toOpaque())
                    }
                }
            }
            return n
        }
    }
    perOperation("L ThreadLocal<Int> create+destroy", operations: 1 << 12) { n in
        var sum = 0
        for _ in 0..<n {
            let variable = ThreadLocal<Int> { 1 }
            sum &+= variable.hasValue ? 1 : 0
        }
        return sum
    }
    perOperation(
        "L ThreadLocal<Int> create+set+destroy, 1,100 live",
        operations: 1 << 12,
        setup: { _ = manyLiveVariables.count }
    ) { n in
        var sum = 0
        for _ in 0..<n {
            let variable = ThreadLocal<Int> { 1 }
            variable.value = 2
            sum &+= variable.value
        }
        return sum
    }
    perOperation("L pthread_key_create+delete", operations: 1 << 12) { n in
        for _ in 0..<n {
            var key = pthread_key_t()
            precondition(pthread_key_create(&key, nil) == 0)
            pthread_key_delete(key)
        }
        return n
    }
    // pthread keys run out (PTHREAD_KEYS_MAX, 1,024 per process with glibc,
    // some taken by the runtime and this process): the metric
    // "pthread keys created before failure" shows where. ThreadLocal has no
    // such limit (the row above holds 1,100 live variables).
    let keysCreated = BenchmarkMetric.custom("pthread keys created before failure")
    Benchmark(
        "L pthread_key_create until it fails",
        configuration: .init(
            metrics: [.wallClock, .throughput, .mallocCountTotal, operationsPerSample, keysCreated],
            timeUnits: .nanoseconds,
            warmupIterations: 1,
            maxDuration: .milliseconds(150),
            maxIterations: 200
        )
    ) { benchmark in
        var keys: [pthread_key_t] = []
        while true {
            var key = pthread_key_t()
            guard pthread_key_create(&key, nil) == 0 else { break }
            keys.append(key)
        }
        for key in keys { pthread_key_delete(key) }
        benchmark.measurement(operationsPerSample, keys.count)
        benchmark.measurement(keysCreated, keys.count)
    }
}
