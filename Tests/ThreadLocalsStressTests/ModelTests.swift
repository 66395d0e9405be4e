// SPDX-License-Identifier: Apache-2.0
import CThreadLocals
import Synchronization
import Testing
import ThreadLocals
import ThreadLocalsTestSupport

extension Stress {
    /// Random operation sequences on several threads, checked step by step
    /// against a reference model: a dictionary of values per thread, and the
    /// list of values each step must release (destroy).
    ///
    /// Each sequence runs one operation at a time, each on the thread the
    /// generator picks, so that a sequence replays exactly from its seed:
    /// a failure prints `STRESS_SEED=<seed>`, and running with that variable
    /// set replays only that sequence. (The races between threads are the
    /// stress suites' job.)
    @Suite("model-based")
    struct ModelBased {
        static let threads = 3

        static var seeds: [UInt64] {
            if let seed = StressConfig.replaySeed { return [seed] }
            var generator = SeededGenerator(seed: StressConfig.freshSeed())
            return (0..<StressConfig.scaled(100)).map { _ in generator.next() }
        }

        @Test("C slot API against a model: create, destroy, set, get, take, in place, thread exit")
        func cSlotModel() {
            var longest = 0
            var operations = 0
            let seeds = Self.seeds
            for seed in seeds {
                var model = CModel(seed: seed)
                let length = model.run()
                longest = max(longest, length)
                operations += length
                if let failure = model.failure {
                    Issue.record(
                        "C model: \(failure)\nreplay with STRESS_SEED=\(seed)\nlast steps: \(model.trace.suffix(12))"
                    )
                    break
                }
            }
            print("C model: \(seeds.count) sequences, \(operations) operations, longest \(longest)")
        }

        @Test("Swift ThreadLocal against a model: create, drop, get, set, withValue, reset, hasValue, thread exit")
        func swiftOverlayModel() {
            var longest = 0
            var operations = 0
            let seeds = Self.seeds
            for seed in seeds {
                var model = SwiftModel(seed: seed)
                let length = model.run()
                longest = max(longest, length)
                operations += length
                if let failure = model.failure {
                    Issue.record(
                        "Swift model: \(failure)\nreplay with STRESS_SEED=\(seed)\nlast steps: \(model.trace.suffix(12))"
                    )
                    break
                }
            }
            print("Swift model: \(seeds.count) sequences, \(operations) operations, longest \(longest)")
        }
    }
}

// MARK: - The C slot API

private let logDestroyed: ctl_destructor = { value, context in
    Unmanaged<ReleaseLog>.fromOpaque(context!).takeUnretainedValue().append(Int(value.i64))
}

private struct CModel {
    struct Slot {
        var handle: ctl_slot
        var live: Bool
        var destructor: Bool
    }

    var random: SeededGenerator
    var slots: [Slot] = []  // destroyed ones too: their handles must stay dead
    var values: [[Int: Int64]]  // per thread: slot position -> token
    var workers: [WorkerThread]
    let log = ReleaseLog()
    var nextToken: Int64 = 1
    var failure: String?
    var trace: [String] = []

    init(seed: UInt64) {
        random = SeededGenerator(seed: seed)
        values = Array(repeating: [:], count: Stress.ModelBased.threads)
        workers = (0..<Stress.ModelBased.threads).map { _ in WorkerThread() }
    }

    mutating func check(_ condition: Bool, _ message: @autoclosure () -> String) {
        if !condition && failure == nil { failure = "step \(trace.count): \(message())" }
    }

    /// Compares what was destroyed since the last step with `expected`.
    mutating func expectDestroyed(_ expected: [Int64]) {
        let destroyed = log.drain().sorted()
        check(destroyed == expected.map(Int.init).sorted(), "destroyed \(destroyed), expected \(expected.sorted())")
    }

    /// Runs one random sequence; returns its length.
    mutating func run() -> Int {
        let length = Int.random(in: 1...400, using: &random)
        let context = Unmanaged.passUnretained(log).toOpaque()
        for _ in 0..<length where failure == nil {
            let liveCount = slots.filter(\.live).count
            let roll = Int.random(in: 0..<100, using: &random)
            let w = Int.random(in: 0..<workers.count, using: &random)
            let worker = workers[w]
            if slots.isEmpty || (roll < 10 && liveCount < 100) {
                let destructor = Int.random(in: 0..<5, using: &random) > 0
                var handle = ctl_slot()
                let status = ctl_slot_create(&handle, destructor ? logDestroyed : nil, destructor ? context : nil)
                trace.append("create(destructor: \(destructor)) -> #\(slots.count)")
                check(status == CTL_OK, "create returned \(status)")
                slots.append(Slot(handle: handle, live: true, destructor: destructor))
                continue
            }
            let s = Int.random(in: 0..<slots.count, using: &random)
            let slot = slots[s]
            let handle = slot.handle
            switch roll {
            case ..<18:
                trace.append("destroy(#\(s))")
                let status = ctl_slot_destroy(handle)
                check(status == (slot.live ? CTL_OK : CTL_EINVAL), "destroy returned \(status)")
                var expected: [Int64] = []
                for t in values.indices {
                    if let token = values[t].removeValue(forKey: s), slot.destructor { expected.append(token) }
                }
                slots[s].live = false
                expectDestroyed(expected)
            case ..<48:
                let token = nextToken
                nextToken += 1
                trace.append("thread \(w): set(#\(s), \(token))")
                let stored = worker.run { ctl_set_i64(handle, token) }
                check(stored == slot.live, "set returned \(stored) on a \(slot.live ? "live" : "dead") slot")
                if slot.live { values[w][s] = token }  // an overwritten value is dropped, not destroyed
                expectDestroyed([])
            case ..<73:
                trace.append("thread \(w): get(#\(s))")
                let (has, value) = worker.run { (ctl_has_value(handle), ctl_get_i64(handle)) }
                let expected = values[w][s]
                check(
                    has == (expected != nil) && value == (expected ?? 0),
                    "get: \(has), \(value); model \(String(describing: expected))"
                )
            case ..<81:
                trace.append("thread \(w): take(#\(s))")
                let (took, value) = worker.run { () -> (Bool, Int64) in
                    var taken = ctl_value()
                    return (ctl_take(handle, &taken), taken.i64)
                }
                let expected = values[w].removeValue(forKey: s)
                check(
                    took == (expected != nil) && (!took || value == expected),
                    "take: \(took), \(value); model \(String(describing: expected))"
                )
                expectDestroyed([])
            case ..<88:
                let token = nextToken
                nextToken += 1
                trace.append("thread \(w): in place(#\(s), \(token))")
                let wrote = worker.run { () -> Bool in
                    guard let pointer = ctl_value_pointer(handle) else { return false }
                    pointer.pointee.i64 = token
                    return true
                }
                check(wrote == (values[w][s] != nil), "value pointer: \(wrote)")
                if wrote { values[w][s] = token }
            case ..<94:
                trace.append("thread \(w): exit")
                exitWorker(w)
            default:
                trace.append("thread \(w): begin/cancel initialization(#\(s))")
                let status = worker.run { () -> Int32 in
                    let status = ctl_begin_initialization(handle)
                    if status == CTL_OK { ctl_cancel_initialization(handle) }
                    return status
                }
                let expected = !slot.live ? CTL_EINVAL : values[w][s] != nil ? CTL_EEXIST : CTL_OK
                check(Int(status) == Int(expected), "begin initialization returned \(status), expected \(expected)")
            }
        }
        // The end: every thread exits, every slot is destroyed.
        for w in workers.indices where failure == nil { exitWorker(w) }
        for s in slots.indices where slots[s].live {
            check(ctl_slot_destroy(slots[s].handle) == CTL_OK, "final destroy")
        }
        expectDestroyed([])
        for worker in workers { worker.exit() }
        return length
    }

    mutating func exitWorker(_ w: Int) {
        workers[w].exit()
        workers[w] = WorkerThread()
        var expected: [Int64] = []
        for (s, token) in values[w] where slots[s].live && slots[s].destructor { expected.append(token) }
        values[w] = [:]
        expectDestroyed(expected)
    }
}

// MARK: - The Swift overlay

/// One `ThreadLocal` under test, of one of three kinds, behind closures that
/// speak in payloads (`nil` for an optional holding nil).
private final class LocalUnderTest: Sendable {
    enum Kind: CaseIterable {
        case object  // ThreadLocal<LifetimeTracked<Int>>, boxed, lazy initial value
        case pair  // ThreadLocal<TrackedPair<Int>?>, boxed, starts as nil
        case scalar  // ThreadLocal<Int>, stored in the slot, starts as 0
    }

    let kind: Kind
    let get: @Sendable () -> Int?
    let set: @Sendable (Int) -> Void
    let mutate: @Sendable (Int) -> Void
    let reset: @Sendable () -> Void
    let hasValue: @Sendable () -> Bool

    init(_ kind: Kind, counter: LifetimeCounter, log: ReleaseLog, initials: Numbering) {
        self.kind = kind
        let track: @Sendable (Int) -> LifetimeTracked<Int> = {
            LifetimeTracked($0, counter: counter, onDeinit: log.append)
        }
        switch kind {
        case .object:
            let local = ThreadLocal { track(-initials.next()) }
            get = { local.value.payload }
            set = { local.value = track($0) }
            mutate = { token in local.withValue { $0 = track(token) } }
            reset = { local.reset() }
            hasValue = { local.hasValue }
        case .pair:
            let local = ThreadLocal<TrackedPair<Int>?>()
            get = { local.value?.tracked.payload }
            set = { local.value = TrackedPair(name: "\($0)", tracked: track($0)) }
            mutate = { token in local.withValue { $0?.tracked = track(token) } }
            reset = { local.reset() }
            hasValue = { local.hasValue }
        case .scalar:
            let local = ThreadLocal { 0 }
            get = { local.value }
            set = { local.value = $0 }
            mutate = { token in local.withValue { $0 += token } }
            reset = { local.reset() }
            hasValue = { local.hasValue }
        }
    }
}

private struct SwiftModel {
    var random: SeededGenerator
    var locals: [LocalUnderTest?] = []  // nil once dropped
    // Per thread: local position -> its value's payload (nil: an optional holding nil).
    var values: [[Int: Int?]]
    var workers: [WorkerThread]
    let counter = LifetimeCounter()
    let log = ReleaseLog()
    let initials = Numbering()
    var nextInitial = 1
    var nextToken = 1
    var failure: String?
    var trace: [String] = []

    init(seed: UInt64) {
        random = SeededGenerator(seed: seed)
        values = Array(repeating: [:], count: Stress.ModelBased.threads)
        workers = (0..<Stress.ModelBased.threads).map { _ in WorkerThread() }
    }

    mutating func check(_ condition: Bool, _ message: @autoclosure () -> String) {
        if !condition && failure == nil { failure = "step \(trace.count): \(message())" }
    }

    mutating func expectReleased(_ expected: [Int]) {
        let released = log.drain().sorted()
        check(released == expected.sorted(), "released \(released), expected \(expected.sorted())")
    }

    /// The payloads a value holds that its release releases.
    func tracked(_ kind: LocalUnderTest.Kind, _ payload: Int??) -> [Int] {
        guard kind != .scalar, let payload, let payload else { return [] }
        return [payload]
    }

    /// The model's value after a read on thread `w`: the stored one, or the
    /// initial value the read creates.
    mutating func readModel(_ w: Int, _ l: Int, _ kind: LocalUnderTest.Kind) -> Int? {
        if let value = values[w][l] { return value }
        let initial: Int?
        switch kind {
        case .object:
            initial = -nextInitial
            nextInitial += 1
        case .pair: initial = nil
        case .scalar: initial = 0
        }
        values[w][l] = .some(initial)
        return initial
    }

    mutating func run() -> Int {
        let length = Int.random(in: 1...400, using: &random)
        for _ in 0..<length where failure == nil {
            let live = locals.indices.filter { locals[$0] != nil }
            let roll = Int.random(in: 0..<100, using: &random)
            let w = Int.random(in: 0..<workers.count, using: &random)
            let worker = workers[w]
            if live.isEmpty || (roll < 8 && live.count < 12) {
                let kind = LocalUnderTest.Kind.allCases.randomElement(using: &random)!
                trace.append("create(\(kind)) -> #\(locals.count)")
                locals.append(LocalUnderTest(kind, counter: counter, log: log, initials: initials))
                continue
            }
            let l = live.randomElement(using: &random)!
            let kind = locals[l]!.kind
            if roll < 14 {
                trace.append("drop(#\(l))")
                locals[l] = nil  // deinit on this thread: releases every thread's value
                var expected: [Int] = []
                for t in values.indices { expected += tracked(kind, values[t].removeValue(forKey: l)) }
                expectReleased(expected)
                continue
            }
            let local = locals[l]!
            let token = nextToken
            switch roll {
            case ..<40:
                trace.append("thread \(w): get(#\(l))")
                let value = worker.run { local.get() }
                let expected = readModel(w, l, kind)
                check(value == expected, "get: \(String(describing: value)), model \(String(describing: expected))")
                expectReleased([])
            case ..<62:
                nextToken += 1
                trace.append("thread \(w): set(#\(l), \(token))")
                worker.run { local.set(token) }
                let old = values[w].updateValue(token, forKey: l)
                expectReleased(tracked(kind, old))
            case ..<74:
                nextToken += 1
                trace.append("thread \(w): withValue(#\(l), \(token))")
                worker.run { local.mutate(token) }
                let before = readModel(w, l, kind)
                switch kind {
                case .object:
                    values[w][l] = token
                    expectReleased(tracked(kind, before))
                case .pair:
                    if before != nil { values[w][l] = token }
                    expectReleased(tracked(kind, before))
                case .scalar:
                    values[w][l] = before! + token
                    expectReleased([])
                }
            case ..<84:
                trace.append("thread \(w): reset(#\(l))")
                worker.run { local.reset() }
                expectReleased(tracked(kind, values[w].removeValue(forKey: l)))
            case ..<94:
                trace.append("thread \(w): hasValue(#\(l))")
                let has = worker.run { local.hasValue() }
                check(has == (values[w][l] != nil), "hasValue: \(has)")
            default:
                trace.append("thread \(w): exit")
                exitWorker(w)
            }
        }
        for w in workers.indices where failure == nil { exitWorker(w) }
        locals = []
        expectReleased([])
        let alive = counter.live
        check(alive == 0, "\(alive) values alive at the end")
        for worker in workers { worker.exit() }
        return length
    }

    mutating func exitWorker(_ w: Int) {
        workers[w].exit()
        workers[w] = WorkerThread()
        var expected: [Int] = []
        for (l, value) in values[w] {
            if let local = locals[l] { expected += tracked(local.kind, value) }
        }
        values[w] = [:]
        expectReleased(expected)
    }
}
