// SPDX-License-Identifier: Apache-2.0
// Threads for the benchmarks: start, join and pin POSIX threads. Shared by the
// benchmark targets, AggregateScaling and the RealWorld package's
// MetricsBenchmark; no dependency on package-benchmark.

import CPinning

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Runs `body(index)` on `count` new threads at once and waits for all of them
/// to exit (thread start, work and exit are all inside the call).
public func onNewThreads(_ count: Int, _ body: @escaping @Sendable (Int) -> Void) {
    let threads = (0..<count).map { index in startThread { body(index) } }
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

/// The number of CPUs online.
public let cpuCount = Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))

/// Pins the calling thread to CPU `index % cpuCount` (Linux; elsewhere it does
/// nothing), so that two threads run on two CPUs at once and contend for shared
/// cache lines, instead of taking turns on one.
public func pin(_ index: Int) {
    _ = pin_to_cpu(Int32(index % cpuCount))
}
