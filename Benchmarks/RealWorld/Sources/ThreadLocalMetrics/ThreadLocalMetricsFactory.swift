// SPDX-License-Identifier: Apache-2.0
public import CoreMetrics
import Synchronization
public import ThreadLocals

/// A swift-metrics backend whose counters never contend: each counter is a
/// ``ThreadLocalCounter`` (one cell per thread, summed when read), the idea of
/// Java's `LongAdder`.
///
/// ```swift
/// let metrics = ThreadLocalMetricsFactory()
/// MetricsSystem.bootstrap(metrics)
///
/// Counter(label: "http_requests_total").increment()   // on any thread, as often as you like
/// print(metrics.exposition())                         // Prometheus text format
/// ```
///
/// Counters and floating-point counters are per-thread; recorders, timers and
/// meters go to `fallback` (no-op by default). Making a counter twice with the
/// same label and dimensions returns the same handler, so its increments add up.
///
/// An increment is the handler's dynamic call plus ``ThreadLocalCounter/increment(by:)``
/// (a thread-local load, a load and a store to the thread's own cache line). Reading
/// a value costs one lock and one load per running thread that has used the counter.
/// Increments made by threads that have since exited are kept.
public final class ThreadLocalMetricsFactory: MetricsFactory {
    private struct Key: Hashable {
        var label: String
        var dimensions: [String]

        init(_ label: String, _ dimensions: [(String, String)]) {
            self.label = label
            self.dimensions = dimensions.flatMap { [$0.0, $0.1] }
        }
    }

    private struct Registry {
        var counters: [Key: ThreadLocalCounterHandler] = [:]
        var floatingPointCounters: [Key: ThreadLocalFloatingPointCounterHandler] = [:]
    }

    private let registry = Mutex(Registry())
    private let fallback: any MetricsFactory

    /// Creates a factory; recorders, timers and meters are made by `fallback`.
    public init(fallback: any MetricsFactory = NOOPMetricsHandler.instance) {
        self.fallback = fallback
    }

    public func makeCounter(label: String, dimensions: [(String, String)]) -> any CounterHandler {
        handler(\.counters, label, dimensions, ThreadLocalCounterHandler.init(label:dimensions:))
    }

    public func makeFloatingPointCounter(
        label: String,
        dimensions: [(String, String)]
    ) -> any FloatingPointCounterHandler {
        handler(
            \.floatingPointCounters,
            label,
            dimensions,
            ThreadLocalFloatingPointCounterHandler.init(label:dimensions:)
        )
    }

    /// The handler in `table` for `label` and `dimensions`, made by `make` the first time.
    private func handler<Handler: Sendable>(
        _ table: WritableKeyPath<Registry, [Key: Handler]> & Sendable,
        _ label: String,
        _ dimensions: [(String, String)],
        _ make: (String, [(String, String)]) -> Handler
    ) -> Handler {
        let key = Key(label, dimensions)
        return registry.withLock { registry in
            if let existing = registry[keyPath: table][key] { return existing }
            let handler = make(label, dimensions)
            registry[keyPath: table][key] = handler
            return handler
        }
    }

    public func makeRecorder(label: String, dimensions: [(String, String)], aggregate: Bool) -> any RecorderHandler {
        fallback.makeRecorder(label: label, dimensions: dimensions, aggregate: aggregate)
    }

    public func makeTimer(label: String, dimensions: [(String, String)]) -> any TimerHandler {
        fallback.makeTimer(label: label, dimensions: dimensions)
    }

    public func makeMeter(label: String, dimensions: [(String, String)]) -> any MeterHandler {
        fallback.makeMeter(label: label, dimensions: dimensions)
    }

    public func destroyCounter(_ handler: any CounterHandler) {
        guard let handler = handler as? ThreadLocalCounterHandler else { return }
        registry.withLock { registry in
            let key = Key(handler.label, handler.dimensions)
            if registry.counters[key] === handler { registry.counters[key] = nil }
        }
    }

    public func destroyFloatingPointCounter(_ handler: any FloatingPointCounterHandler) {
        guard let handler = handler as? ThreadLocalFloatingPointCounterHandler else { return }
        registry.withLock { registry in
            let key = Key(handler.label, handler.dimensions)
            if registry.floatingPointCounters[key] === handler { registry.floatingPointCounters[key] = nil }
        }
    }

    public func destroyRecorder(_ handler: any RecorderHandler) { fallback.destroyRecorder(handler) }
    public func destroyTimer(_ handler: any TimerHandler) { fallback.destroyTimer(handler) }
    public func destroyMeter(_ handler: any MeterHandler) { fallback.destroyMeter(handler) }

    /// The value of the counter with this label and these dimensions, or nil if
    /// there is none.
    public func counterValue(label: String, dimensions: [(String, String)] = []) -> Int64? {
        registry.withLock { $0.counters[Key(label, dimensions)] }?.value
    }

    /// Every counter in the Prometheus text exposition format, sorted by label:
    /// `# TYPE name counter` then `name{key="value"} 42` lines. Labels are written
    /// as given (they should already be valid Prometheus metric names).
    public func exposition() -> String {
        let (counters, floatingPointCounters) = registry.withLock {
            (Array($0.counters.values), Array($0.floatingPointCounters.values))
        }
        var lines: [(label: String, line: String)] = []
        for handler in counters {
            lines.append((handler.label, "\(handler.label)\(Self.render(handler.dimensions)) \(handler.value)"))
        }
        for handler in floatingPointCounters {
            lines.append((handler.label, "\(handler.label)\(Self.render(handler.dimensions)) \(handler.value)"))
        }
        lines.sort { ($0.label, $0.line) < ($1.label, $1.line) }
        var text = ""
        var previous: String?
        for (label, line) in lines {
            if label != previous { text += "# TYPE \(label) counter\n" }
            previous = label
            text += line + "\n"
        }
        return text
    }

    private static func render(_ dimensions: [(String, String)]) -> String {
        guard !dimensions.isEmpty else { return "" }
        let pairs = dimensions.map { name, value in
            let escaped =
                value
                .replacingOccurrences(of: "\\", with: "\\\\")
                .replacingOccurrences(of: "\"", with: "\\\"")
                .replacingOccurrences(of: "\n", with: "\\n")
            return "\(name)=\"\(escaped)\""
        }
        return "{" + pairs.joined(separator: ",") + "}"
    }
}

extension String {
    fileprivate func replacingOccurrences(of target: String, with replacement: String) -> String {
        guard contains(target) else { return self }
        return split(separator: target, omittingEmptySubsequences: false).joined(separator: replacement)
    }
}

/// A swift-metrics counter backed by a ``ThreadLocalCounter``.
///
/// ``increment(by:)`` adds to the calling thread's own cell: no lock, no atomic
/// read-modify-write, no shared cache line. ``value`` sums the cells.
public final class ThreadLocalCounterHandler: CounterHandler {
    /// The metric's label.
    public let label: String
    /// The metric's dimensions.
    public let dimensions: [(String, String)]
    private let counter = ThreadLocalCounter()
    /// The counter's sum at the last ``reset()``.
    private let base = Atomic<Int>(0)

    /// Creates a counter whose value is 0.
    public init(label: String, dimensions: [(String, String)] = []) {
        self.label = label
        self.dimensions = dimensions
    }

    /// Adds `amount` to the calling thread's cell.
    public func increment(by amount: Int64) {
        counter.increment(by: Int(truncatingIfNeeded: amount))
    }

    /// Sets the value back to 0. Increments that run at the same time on other
    /// threads may be kept or dropped.
    public func reset() {
        base.store(counter.sum(), ordering: .relaxed)
    }

    /// The sum of all increments since creation or the last ``reset()``, those of
    /// threads that have exited included.
    public var value: Int64 {
        Int64(truncatingIfNeeded: counter.sum() &- base.load(ordering: .relaxed))
    }
}

/// A swift-metrics floating-point counter backed by a ``ThreadLocalAccumulator``.
///
/// ``increment(by:)`` adds to the calling thread's own partial sum (under that
/// thread's own, uncontended lock); ``value`` adds the partial sums, in no fixed
/// order, so the last bits of the result may differ from a sequential sum.
public final class ThreadLocalFloatingPointCounterHandler: FloatingPointCounterHandler {
    /// The metric's label.
    public let label: String
    /// The metric's dimensions.
    public let dimensions: [(String, String)]
    private let sum = ThreadLocalAccumulator(initial: 0.0) { $0 += $1 }
    /// The sum at the last ``reset()``.
    private let base = Mutex(0.0)

    /// Creates a counter whose value is 0.
    public init(label: String, dimensions: [(String, String)] = []) {
        self.label = label
        self.dimensions = dimensions
    }

    /// Adds `amount` to the calling thread's partial sum.
    public func increment(by amount: Double) {
        sum.update { $0 += amount }
    }

    /// Sets the value back to 0. Increments that run at the same time on other
    /// threads may be kept or dropped.
    public func reset() {
        let current = sum.combined()
        base.withLock { $0 = current }
    }

    /// The sum of all increments since creation or the last ``reset()``.
    public var value: Double {
        sum.combined() - base.withLock { $0 }
    }
}
