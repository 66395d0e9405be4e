// SPDX-License-Identifier: Apache-2.0
import CThreadLocals
import Synchronization
import Testing
import ThreadLocals
import ThreadLocalsTestSupport

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

#if canImport(Glibc) || canImport(Musl)
    extension Stress {
        @Suite("fork")
        struct Fork {
            /// fork() while three threads create, set and destroy thread-locals:
            /// the child has only the forking thread, keeps its values, and can
            /// read, write, create and destroy thread-locals before `_exit`.
            ///
            /// The child does only what the store needs: no printing, no
            /// Foundation, no new generic types (whose metadata another thread
            /// might have been instantiating at the fork).
            @Test("fork from a process with threads busy in the store")
            func forkWhileThreadsAreBusy() {
                let forks = StressConfig.scaled(30)
                let scalar = ThreadLocal { 0 }
                let boxed = ThreadLocal<Box?>()
                scalar.value = 1234
                boxed.value = Box(99)
                // Warm up what the child will use: this generic type's
                // metadata and its slot.
                do {
                    let warm = ThreadLocal { 0 }
                    warm.value = 1
                }
                let stop = Atomic<Bool>(false)
                let busy = (0..<3).map { i in
                    startThread {
                        while !stop.load(ordering: .relaxed) {
                            let mine = ThreadLocal<Box?>()
                            mine.value = Box(i)
                            scalar.value += 1
                            boxed.value = Box(scalar.value)
                        }
                    }
                }
                usleep(2_000)
                var failures: [String] = []
                for round in 0..<forks {
                    let pid = fork()
                    if pid == 0 {
                        _exit(forkChild(scalar: scalar, boxed: boxed, full: !underThreadSanitizer))
                    }
                    guard pid > 0 else {
                        failures.append("fork failed: errno \(errno)")
                        break
                    }
                    let status = waitWithDeadline(pid, seconds: 10)
                    if status != 0 { failures.append("round \(round): child \(describe(status))") }
                }
                stop.store(true, ordering: .relaxed)
                for thread in busy { pthread_join(thread, nil) }
                #expect(failures.isEmpty, "\(failures)")
                #expect(scalar.value == 1234)  // the parent's values are untouched
                #expect(boxed.value?.number == 99)
                print("fork: \(forks) forks while 3 threads were busy in the store")
            }
        }
    }

    private final class Box: Sendable {
        let number: Int
        init(_ number: Int) { self.number = number }
    }

    /// Whether this process runs under ThreadSanitizer. After a fork from a
    /// multi-threaded process, TSan's runtime may block the child in the Swift
    /// runtime's lazy metadata set-up (seen: a `swift_once` in the generic
    /// metadata cache, waiting forever), which unspecialized debug code
    /// reaches for boxed values and new variables. There the child checks
    /// only what needs no Swift metadata: scalars in the slot and the C store.
    private let underThreadSanitizer = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "__tsan_init") != nil

    /// The child's checks; returns its exit status.
    private func forkChild(scalar: ThreadLocal<Int>, boxed: ThreadLocal<Box?>, full: Bool) -> Int32 {
        if scalar.value != 1234 { return 11 }
        if ctl_get_stats().registered_threads != 1 { return 13 }
        scalar.value = 77
        if scalar.value != 77 { return 14 }
        var slot = ctl_slot()
        if ctl_slot_create(&slot, nil, nil) != CTL_OK { return 16 }
        if !ctl_set_i64(slot, 5) || ctl_get_i64(slot) != 5 { return 17 }
        if ctl_slot_destroy(slot) != CTL_OK { return 18 }
        guard full else { return 0 }
        if boxed.value?.number != 99 { return 12 }
        let fresh = ThreadLocal { 0 }
        fresh.value = 5
        if fresh.value != 5 { return 15 }
        return 0
    }

    /// Waits for `pid`; kills it if it has not exited after `seconds` (a
    /// deadlock in the child). Returns 0 for a clean exit, else the raw status
    /// (or -1 for a timeout).
    private func waitWithDeadline(_ pid: pid_t, seconds: Int) -> Int32 {
        var status: Int32 = 0
        for _ in 0..<(seconds * 1000) {
            let done = waitpid(pid, &status, WNOHANG)
            if done == pid { return status }
            usleep(1000)
        }
        kill(pid, SIGKILL)
        waitpid(pid, &status, 0)
        return -1
    }

    private func describe(_ status: Int32) -> String {
        if status == -1 { return "hung (killed after the deadline)" }
        if status & 0x7f == 0 { return "exited with \((status >> 8) & 0xff)" }
        return "killed by signal \(status & 0x7f)"
    }
#endif
