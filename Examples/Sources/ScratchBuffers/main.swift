// SPDX-License-Identifier: Apache-2.0
// A per-thread scratch buffer for a parallel workload.
//
// Every call of `work` needs a 64 KiB scratch buffer (think of an encoder, a
// compressor or a parser that needs room to work in). The calls run in
// parallel with `DispatchQueue.concurrentPerform`. Three ways to get the
// buffer:
//
// 1. allocate a new one per call: simple, but every call pays for `malloc`,
//    zeroing 64 KiB and `free`;
// 2. take one from a pool guarded by a `Mutex`: two lock round trips per call,
//    and the threads contend for the lock;
// 3. keep one per thread in a `ThreadLocal`: the first call on each thread
//    allocates it, every later call on that thread reuses it with no lock and
//    no allocation. Calls on one thread never overlap, so one buffer per
//    thread is enough, and no two threads ever share one.
//
// Usage: ScratchBuffers [calls]   (default 100000)

import Dispatch
import Synchronization
import ThreadLocals

let bufferSize = 64 * 1024
let calls = CommandLine.arguments.dropFirst().first.flatMap { Int($0) } ?? 100_000
let rounds = 3

/// The work of one call: fill part of the scratch buffer with bytes derived
/// from `input`, then fold them into a checksum.
@inline(never)
func work(_ input: Int, scratch: inout [UInt8]) -> UInt64 {
    let used = 128 + input % 128
    var state = UInt64(truncatingIfNeeded: input) &* 0x9E37_79B9_7F4A_7C15 | 1
    return scratch.withUnsafeMutableBufferPointer { buffer in
        for index in 0..<used {
            state ^= state << 13
            state ^= state >> 7
            state ^= state << 17
            buffer[index] = UInt8(truncatingIfNeeded: state)
        }
        var sum: UInt64 = 0
        for index in 0..<used {
            sum = sum &* 31 &+ UInt64(buffer[index])
        }
        return sum
    }
}

/// Runs `body` for every call in parallel and returns the best time of
/// `rounds` runs and the checksum of all results.
func measure(_ body: @Sendable (Int) -> UInt64) -> (best: Duration, checksum: UInt64) {
    var best = Duration.seconds(1_000)
    var checksum: UInt64 = 0
    for _ in 0..<rounds {
        let total = Atomic<UInt64>(0)
        let elapsed = ContinuousClock().measure {
            DispatchQueue.concurrentPerform(iterations: calls) { index in
                total.wrappingAdd(body(index), ordering: .relaxed)
            }
        }
        best = min(best, elapsed)
        checksum = total.load(ordering: .relaxed)
    }
    return (best, checksum)
}

func report(_ name: String, _ result: (best: Duration, checksum: UInt64), _ note: String) {
    let seconds = Double(result.best.components.seconds) + Double(result.best.components.attoseconds) * 1e-18
    let total = (seconds * 1e3 * 10).rounded() / 10
    let perCall = (seconds * 1e9 / Double(calls)).rounded()
    let label = name + String(repeating: " ", count: max(0, 20 - name.count))
    print("\(label) \(total) ms, \(Int(perCall)) ns per call  (\(note))")
}

// 1. A new buffer for every call.
let perCall = measure { index in
    var scratch = [UInt8](repeating: 0, count: bufferSize)
    return work(index, scratch: &scratch)
}

// 2. A pool of buffers guarded by a Mutex.
let pool = Mutex<[[UInt8]]>([])
let pooled = measure { index in
    var scratch = pool.withLock { $0.popLast() } ?? [UInt8](repeating: 0, count: bufferSize)
    let result = work(index, scratch: &scratch)
    pool.withLock { $0.append(scratch) }
    return result
}
let poolSize = pool.withLock { $0.count }

// 3. One buffer per thread. `withValue` lends this thread's buffer in place:
// no copy, no lock, no reference counting.
let buffersCreated = Atomic<Int>(0)
let threadLocal: (best: Duration, checksum: UInt64)
do {
    let scratch = ThreadLocal {
        buffersCreated.add(1, ordering: .relaxed)
        return [UInt8](repeating: 0, count: bufferSize)
    }
    threadLocal = measure { index in
        scratch.withValue { work(index, scratch: &$0) }
    }
    // `scratch` goes away at the end of this scope: every thread's buffer is
    // released then, also those of Dispatch's worker threads, which keep
    // running. A global ThreadLocal would keep each worker's buffer until
    // that worker thread exits.
}

print("scratch buffers: \(calls) calls x \(rounds) rounds, a \(bufferSize / 1024) KiB buffer per call, best round:")
report("allocate per call", perCall, "\(calls * rounds) buffers allocated")
report("Mutex-guarded pool", pooled, "the pool grew to \(poolSize) buffers")
report(
    "ThreadLocal",
    threadLocal,
    "\(buffersCreated.load(ordering: .relaxed)) buffers created, one per thread that ran calls"
)
precondition(perCall.checksum == pooled.checksum && pooled.checksum == threadLocal.checksum)
print("checksums agree: \(String(perCall.checksum, radix: 16))")
