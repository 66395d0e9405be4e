// SPDX-License-Identifier: Apache-2.0
import CThreadLocals
import CThreadLocalsTestHarness
import Dispatch
import Synchronization
import Testing
import ThreadLocalsTestSupport

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// Every stress suite is nested in this one so that they run one after another:
/// the churn test compares process-wide figures (registered threads, heap in
/// use) before and after, which tests running alongside would blur.
@Suite("stress", .serialized)
enum Stress {}

/// Sizes of the stress suites.
///
/// `STRESS_SCALE=N` multiplies every size (each suite's `scaled(_:)` call) by
/// N: 1, the default, is the CI setting, which finishes in seconds; larger
/// values make longer runs (`Tests/README.md`). `STRESS_SEED` replays one
/// random sequence of the model-based tests.
enum StressConfig {
    static let scale: Int = {
        guard let text = environment("STRESS_SCALE"), let value = Int(text), value > 0 else {
            return 1
        }
        return value
    }()

    static func scaled(_ ciSize: Int) -> Int { ciSize * scale }

    /// The seed given in `STRESS_SEED`, if any.
    static let replaySeed: UInt64? = environment("STRESS_SEED").flatMap { UInt64($0) }

    private static func environment(_ name: String) -> String? {
        guard let value = getenv(name) else { return nil }
        return String(validatingCString: value)
    }

    /// A seed for a run that was not given one.
    static func freshSeed() -> UInt64 {
        var generator = SystemRandomNumberGenerator()
        return generator.next()
    }
}

/// A small, fast, seeded generator (SplitMix64), so that a failing random
/// sequence replays from its seed.
struct SeededGenerator: RandomNumberGenerator {
    private var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Bytes the C heap has handed out and not taken back (glibc `mallinfo2`),
/// or nil where that is not known (sanitizers and valgrind replace malloc).
func heapInUse() -> Int? {
    let total = Int(cth_heap_in_use())
    return total > 0 ? total : nil
}

/// The resident set size in bytes, from /proc/self/statm.
func residentBytes() -> Int? {
    guard let file = fopen("/proc/self/statm", "r") else { return nil }
    defer { fclose(file) }
    var buffer = [CChar](repeating: 0, count: 256)
    guard fgets(&buffer, Int32(buffer.count), file) != nil else { return nil }
    let fields = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        .split(separator: " ")
    guard fields.count >= 2, let pages = Int(fields[1]) else { return nil }
    return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
}

/// Polls `condition` until it holds or `seconds` have passed; returns whether
/// it held.
func eventually(within seconds: Double = 10, _ condition: () -> Bool) -> Bool {
    let deadline = DispatchTime.now().uptimeNanoseconds + UInt64(seconds * 1e9)
    while !condition() {
        if DispatchTime.now().uptimeNanoseconds > deadline { return false }
        usleep(1000)
    }
    return true
}

/// Spins for about `iterations` loop turns: a cheap, unpredictable delay that
/// shifts where two threads meet.
func spin(_ iterations: Int) {
    var x = 0
    for i in 0..<iterations { x &+= i }
    withExtendedLifetime(x) {}
}

/// A thread that runs jobs handed to it one at a time, so that a test can
/// decide which thread performs each step of a sequence and in which order.
final class WorkerThread: @unchecked Sendable {
    // Sendable: `job` and `result` are handed over through the semaphores,
    // which order every access.
    private let ready = DispatchSemaphore(value: 0)
    private let done = DispatchSemaphore(value: 0)
    private var job: (@Sendable () -> Void)?
    private var thread: pthread_t?

    init() {
        thread = startThread { [self] in
            while true {
                ready.wait()
                guard self.job != nil else { return }
                // Run it and drop it (and what it captured) before the caller
                // goes on: tests count on releases having happened.
                self.job!()
                self.job = nil
                done.signal()
            }
        }
    }

    /// Runs `body` on this thread and returns its result.
    func run<T: Sendable>(_ body: @escaping @Sendable () -> T) -> T {
        let result = Locked<T?>(nil)
        job = { result.withLock { $0 = body() } }
        ready.signal()
        done.wait()
        return result.withLock { $0! }
    }

    /// Lets the thread exit and waits until it has (thread-local destructors
    /// included).
    func exit() {
        guard let thread else { return }
        job = nil
        ready.signal()
        pthread_join(thread, nil)
        self.thread = nil
    }

    deinit { exit() }
}

/// A log of the payloads of released objects, in release order.
final class ReleaseLog: Sendable {
    private let entries = Locked<[Int]>([])
    func append(_ payload: Int) { entries.withLock { $0.append(payload) } }
    /// The entries logged since the last call.
    func drain() -> [Int] {
        entries.withLock { e in
            defer { e = [] }; return e
        }
    }
}

/// Hands out 1, 2, 3, ... to any thread.
final class Numbering: Sendable {
    private let last = Atomic<Int>(0)
    func next() -> Int { last.add(1, ordering: .relaxed).newValue }
}
