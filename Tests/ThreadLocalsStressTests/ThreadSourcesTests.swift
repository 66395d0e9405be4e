// SPDX-License-Identifier: Apache-2.0
import CThreadLocals
import Dispatch
import Foundation
import Synchronization
import Testing
import ThreadLocals
import ThreadLocalsTestSupport

extension Stress {
    /// Threads from every source a program has. A `ThreadLocal` belongs to the
    /// OS thread, whoever started it: on pool threads (Dispatch, Swift
    /// concurrency) a value persists across the work items or tasks that the
    /// thread runs, and is released when the pool retires the thread or when
    /// the variable goes away.
    @Suite("thread sources")
    struct ThreadSources {
        @Test("Foundation Thread: own value, released at exit")
        func foundationThread() {
            let counter = LifetimeCounter()
            let local = ThreadLocal<LifetimeTracked<Int>?>()
            let threads = 8
            let started = DispatchGroup()
            let seen = Locked<[Int]>([])
            for i in 0..<threads {
                started.enter()
                Thread.detachNewThread {
                    local.value = LifetimeTracked(i, counter: counter)
                    let payload = local.value?.payload ?? -1
                    seen.withLock { $0.append(payload) }
                    started.leave()
                }
            }
            started.wait()
            #expect(seen.withLock { $0.sorted() } == Array(0..<threads))
            // Detached threads cannot be joined: wait for their exits.
            #expect(eventually { counter.live == 0 }, "values of exited Foundation threads not released")
            #expect(counter.released == threads)
        }

        @Test("pthread_create: own value, released at exit")
        func posixThread() {
            let counter = LifetimeCounter()
            let local = ThreadLocal<LifetimeTracked<Int>?>()
            let seen = onNewThreads(count: 8) { i in
                local.value = LifetimeTracked(i, counter: counter)
                return local.value?.payload
            }
            #expect(seen == Array(0..<8))
            #expect(counter.live == 0)
        }

        @Test("Dispatch queues and concurrentPerform: a value persists on the worker thread across work items")
        func dispatchWorkers() {
            let counter = LifetimeCounter()
            let local = ThreadLocal { 0 }
            let record = Locked<[UInt: [Int]]>([:])
            let iterations = StressConfig.scaled(2_000)
            do {
                let tracked = ThreadLocal<LifetimeTracked<Int>?>()
                DispatchQueue.concurrentPerform(iterations: iterations) { i in
                    local.value += 1
                    if !tracked.hasValue { tracked.value = LifetimeTracked(i, counter: counter) }
                    let value = local.value
                    record.withLock { $0[currentThreadID(), default: []].append(value) }
                }
                // Pool threads live on, and so do their values, until the
                // variable goes away: then they are released at once.
                #expect(counter.live > 0)
            }
            #expect(counter.live == 0)
            let queue = DispatchQueue(label: "stress.thread-sources", attributes: .concurrent)
            let group = DispatchGroup()
            for _ in 0..<iterations {
                queue.async(group: group) {
                    local.value += 1
                    let value = local.value
                    record.withLock { $0[currentThreadID(), default: []].append(value) }
                }
            }
            group.wait()
            // On each worker thread the counter went 1, 2, 3, ...: one value
            // per thread, kept across work items, never shared.
            let perThread = record.withLock { $0 }
            for (thread, values) in perThread {
                #expect(values == Array(1...values.count), "thread \(thread): \(values.prefix(20))")
            }
            #expect(perThread.values.map(\.count).reduce(0, +) == 2 * iterations)
            print("dispatch: \(2 * iterations) work items on \(perThread.count) worker threads")
        }

        @Test("Swift concurrency: sync code called from a task sees the pool thread's value, which outlives the task")
        func cooperativePool() async {
            let local = ThreadLocal { 0 }
            let tasks = StressConfig.scaled(2_000)
            let records = await withTaskGroup(of: (UInt, Int).self) { group in
                for _ in 0..<tasks {
                    group.addTask { bumpOnThisThread(local) }
                }
                var all: [(UInt, Int)] = []
                for await record in group { all.append(record) }
                return all
            }
            var perThread: [UInt: [Int]] = [:]
            for (thread, value) in records { perThread[thread, default: []].append(value) }
            for (thread, values) in perThread {
                #expect(values.sorted() == Array(1...values.count), "thread \(thread): \(values.prefix(20))")
            }
            // Each task bumped once; values above 1 were left by earlier tasks
            // on the same pool thread: the value follows the thread, not the task.
            #expect(perThread.values.contains { $0.count > 1 })
            #expect(records.count == tasks)
            print("cooperative pool: \(tasks) tasks on \(perThread.count) pool threads")
        }
    }
}

/// A synchronous function, as async code calls it: it sees the current
/// thread's value.
private func bumpOnThisThread(_ local: ThreadLocal<Int>) -> (UInt, Int) {
    local.value += 1
    return (currentThreadID(), local.value)
}

private func currentThreadID() -> UInt { UInt(bitPattern: Int(bitPattern: pthread_self())) }
