// SPDX-License-Identifier: Apache-2.0
// A per-thread cache of an expensive, non-thread-safe object.
//
// `RecordFormatter` is costly to create (it sets up a `DateFormatter`) and not
// safe to share between threads (it reuses one mutable output buffer). Instead
// of creating one per call, or sharing one behind a lock, every thread gets
// its own, created lazily the first time that thread formats something:
//
//     nonisolated(unsafe) let formatter = ThreadLocal { RecordFormatter() }
//     let line = formatter.withValue { $0.format(record) }
//
// `RecordFormatter` is not `Sendable`, so the variable is declared
// `nonisolated(unsafe)`: the program promises that each formatter stays with
// its thread (it is only used inside `withValue`) and may be released on any
// thread (when the `ThreadLocal` goes away).
//
// The program then shows when the cached formatters are released: when their
// thread exits, on `reset()`, and when the `ThreadLocal` itself goes away
// with the `Sendable` object that owns it (every thread's formatter, while
// those threads keep running).

import Foundation
import Synchronization
import ThreadLocals

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// Prints one line at a time from any thread.
let output = Mutex(())
func say(_ line: String) {
    output.withLock { _ in print(line) }
}

/// Numbers the formatters, so that the output can say which one was released.
let formattersMade = Atomic<Int>(0)

struct Record {
    var id: Int
    var date: Date
    var message: String
}

/// Formats records as log lines. Expensive to create, cheap to reuse, and not
/// thread-safe: `format` writes into the formatter's own buffer.
final class RecordFormatter {
    let number: Int
    let createdOn: String
    let creator = pthread_self()
    private let dateFormatter: DateFormatter
    private var buffer = ""

    init(createdOn thread: String) {
        number = formattersMade.add(1, ordering: .relaxed).newValue
        createdOn = thread
        dateFormatter = DateFormatter()
        dateFormatter.locale = Locale(identifier: "en_US_POSIX")
        dateFormatter.timeZone = TimeZone(identifier: "UTC")
        dateFormatter.dateFormat = "yyyy-MM-dd'T'HH:mm:ss'Z'"
        say("  formatter #\(number) created on \(thread)")
    }

    deinit {
        let releasedOn =
            pthread_equal(creator, pthread_self()) != 0
            ? "the thread that created it" : Thread.isMainThread ? "the main thread" : "another thread"
        say("  formatter #\(number) (created on \(createdOn)) released on \(releasedOn)")
    }

    func format(_ record: Record) -> String {
        buffer.removeAll(keepingCapacity: true)
        buffer += dateFormatter.string(from: record.date)
        buffer += " #\(record.id) "
        buffer += record.message
        return buffer
    }
}

/// The name this program gives the calling thread.
let threadName = ThreadLocal { "an unnamed thread" }
func currentThreadName() -> String { threadName.value }

/// Runs `body` on a new thread named `name` and waits until the thread has
/// exited, thread-local values released included.
func runThread(_ name: String, _ body: @escaping @Sendable () -> Void) {
    final class Body: Sendable {
        let run: @Sendable () -> Void
        init(_ run: @escaping @Sendable () -> Void) { self.run = run }
    }
    let context = Unmanaged.passRetained(
        Body {
            threadName.value = name
            body()
        }
    ).toOpaque()
    #if canImport(Darwin)
        var thread: pthread_t? = nil
    #else
        var thread = pthread_t()
    #endif
    let status = pthread_create(
        &thread,
        nil,
        { raw in
            Unmanaged<Body>.fromOpaque(raw!).takeRetainedValue().run()
            return nil
        },
        context
    )
    precondition(status == 0, "pthread_create failed: \(status)")
    #if canImport(Darwin)
        pthread_join(thread!, nil)
    #else
        pthread_join(thread, nil)
    #endif
}

threadName.value = "the main thread"
let start = Date(timeIntervalSince1970: 1_700_000_000)
func record(_ id: Int) -> Record {
    Record(id: id, date: start.addingTimeInterval(Double(id)), message: "request served")
}

// The cache: one formatter per thread, created on first use on that thread.
nonisolated(unsafe) let formatter = ThreadLocal { RecordFormatter(createdOn: currentThreadName()) }

say("1. Each thread formats 1000 records with its own formatter:")
for worker in ["worker A", "worker B"] {
    runThread(worker) {
        var last = ""
        for id in 0..<1000 {
            last = formatter.withValue { $0.format(record(id)) }
        }
        say("  \(worker) formatted 1000 records, the last: \(last)")
        // The thread ends here: its formatter is released on this thread,
        // after `body` returns, while the thread exits.
    }
}

say("2. The main thread uses its own, then releases it early with reset():")
say("  main: \(formatter.withValue { $0.format(record(7)) })")
formatter.reset()
say("  main: hasValue after reset() = \(formatter.hasValue)")

/// The owner of a cache that threads share: `Sendable`, with the
/// `ThreadLocal` of non-`Sendable` formatters as a `nonisolated(unsafe)`
/// property (each thread reaches only its own formatter, inside `withValue`).
/// When the owner goes away, so does every thread's formatter.
final class Renderer: Sendable {
    nonisolated(unsafe) private let formatters = ThreadLocal { RecordFormatter(createdOn: currentThreadName()) }

    func render(_ record: Record) -> String {
        formatters.withValue { $0.format(record) }
    }
}

/// Shares a renderer with a thread that keeps running, then drops the last
/// reference on this thread. A function, not top-level code, so that the
/// compiler's region checks apply to it in full.
func releaseWithTheOwner() {
    var renderer: Renderer? = Renderer()
    // The parked thread borrows the renderer and gives its reference back
    // before it parks, so that this thread's is the last one.
    let lent = Mutex(renderer)
    let used = DispatchSemaphore(value: 0)
    let finish = DispatchSemaphore(value: 0)
    let parked = Thread {
        threadName.value = "a parked thread"
        if let borrowed = lent.withLock({ $0.take() }) {
            _ = borrowed.render(record(1))
        }
        used.signal()
        finish.wait()  // keeps running while the formatters go away
    }
    parked.start()
    used.wait()
    _ = renderer!.render(record(2))
    say("  dropping the last reference to the Renderer, on the main thread:")
    renderer = nil  // releases both formatters, here, on this thread
    say("  done; the parked thread is still running")
    finish.signal()
}

say("3. A ThreadLocal that goes away (with its owner) releases every thread's value:")
releaseWithTheOwner()

say("made \(formattersMade.load(ordering: .relaxed)) formatters in all")
