// SPDX-License-Identifier: Apache-2.0
// The hot single-thread cases: each is one `@inline(never)` function that
// performs `n` accesses of one kind on the calling thread and returns a sum, so
// that nothing is dead code.
//
// What is measured: the cost of one per-thread access (a read, or a
// read-modify-write) once the calling thread already has its value. The
// wall-clock benchmarks (ThreadLocalBenchmarks) and the instruction counts
// (InstructionCounts under callgrind) call these same functions, so both
// measure the same machine code.
//
// Every loop body calls `rtls_barrier()`, an empty `asm volatile` with a memory
// clobber that emits no instruction: it stops the optimiser from hoisting an
// access out of the loop or folding n increments into one add, for every case
// alike (the raw C accessors contain the same barrier).

import CRawTLS
import CThreadLocals
import Foundation
import NIOPosix
import Synchronization
import ThreadLocals

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

// MARK: - Values

/// The class value of the class rows (`ThreadLocal<Counter>`, the pthread-key
/// box, swift-nio's `ThreadSpecificVariable`). Reads read `id`, a `let`, so a
/// read measures getting the reference; read-modify-writes change `count`.
public final class Counter: @unchecked Sendable {
    // @unchecked Sendable: each instance is only ever used by the thread whose
    // thread-local holds it.
    public let id: Int
    public var count: Int
    public init(id: Int = 1, count: Int = 0) {
        self.id = id
        self.count = count
    }
}

/// A struct with a String: not bitwise-copyable, so `ThreadLocal` boxes it.
public struct Named: Sendable {
    public var name: String
    public var count: Int
    public init(name: String = "worker", count: Int = 0) {
        self.name = name
        self.count = count
    }
}

/// TaskLocal row: a task-local integer.
public enum TaskLocals {
    @TaskLocal public static var value: Int = 0
}

// MARK: - Fixtures

/// Every variable the hot loops use, created once per process.
///
/// Call `prepareCurrentThread()` on a thread before running loops on it, so
/// that lazy first-access work is not part of any measurement.
public final class Fixtures: @unchecked Sendable {
    // @unchecked Sendable: the fields are immutable handles to thread-safe
    // per-thread stores (each thread only reaches its own value); the Mutex
    // is Sendable itself.
    public let slot: ctl_slot
    public let threadLocalInt = ThreadLocal<Int> { 0 }
    public let threadLocalClass = ThreadLocal<Counter> { Counter() }
    public let threadLocalStruct = ThreadLocal<Named> { Named() }
    /// Holds a +1 `Counter` per thread (the class rows of row 4).
    public let pthreadKey: pthread_key_t
    /// Holds a pointer to a heap-allocated `Int` per thread (the Int rows of
    /// row 4: no box, so no retain/release and no exclusivity check).
    public let pthreadIntKey: pthread_key_t
    public let nioVariable = ThreadSpecificVariable<Counter>()
    public let mutexMap = Mutex<[UInt: Int]>([:])
    public static let threadDictionaryKey = "swift-thread-local.bench"
    /// Keeps `CTL_LANE_COUNT` variables alive so that `threadLocalIntOutOfLine`
    /// gets a slot beyond the inline lanes (its accesses take the out-of-line
    /// lookup, one C call).
    public let fillers: [ThreadLocal<Int>]
    public let threadLocalIntOutOfLine: ThreadLocal<Int>
    private let prepared = ThreadLocal<Bool> { false }
    /// The store-after-take rows' own slot, variable and key: their loops
    /// leave the thread without a value, which the other rows need.
    public let storeSlot: ctl_slot
    public let storeInt = ThreadLocal<Int> { 0 }
    /// Holds an integer (as a pointer's bits) per thread; no destructor.
    public let storeKey: pthread_key_t

    public init() {
        var slot = ctl_slot()
        precondition(ctl_slot_create(&slot, nil, nil) == 0, "ctl_slot_create failed")
        self.slot = slot
        precondition(ctl_slot_create(&slot, nil, nil) == 0, "ctl_slot_create failed")
        storeSlot = slot
        var storeKey = pthread_key_t()
        precondition(pthread_key_create(&storeKey, nil) == 0, "pthread_key_create failed")
        self.storeKey = storeKey
        fillers = (0..<Int(CTL_LANE_COUNT)).map { _ in ThreadLocal<Int> { 0 } }
        threadLocalIntOutOfLine = ThreadLocal<Int> { 0 }
        var key = pthread_key_t()
        // The destructor releases the +1 reference that setspecific stored.
        precondition(
            pthread_key_create(&key) { pointer in
                // pthread calls destructors only for non-NULL values.
                Unmanaged<Counter>.fromOpaque(pointer.unsafelyUnwrapped).release()
            } == 0,
            "pthread_key_create failed"
        )
        self.pthreadKey = key
        var intKey = pthread_key_t()
        // The destructor frees the Int that prepareCurrentThread() allocated.
        precondition(
            pthread_key_create(&intKey) { pointer in
                pointer.unsafelyUnwrapped.assumingMemoryBound(to: Int.self).deallocate()
            } == 0,
            "pthread_key_create failed"
        )
        self.pthreadIntKey = intKey
    }

    /// Gives the calling thread its value in every store (once per thread;
    /// later calls cost one thread-local read).
    public func prepareCurrentThread() {
        if prepared.value { return }
        prepared.value = true
        threadLocalIntOutOfLine.value = 0
        rtls_set(0)
        precondition(ctl_set_i64(slot, 0))
        threadLocalInt.value = 0
        _ = threadLocalClass.value
        _ = threadLocalStruct.value
        if pthread_getspecific(pthreadKey) == nil {
            pthread_setspecific(pthreadKey, Unmanaged.passRetained(Counter()).toOpaque())
        }
        if pthread_getspecific(pthreadIntKey) == nil {
            let cell = UnsafeMutablePointer<Int>.allocate(capacity: 1)
            cell.initialize(to: 0)
            pthread_setspecific(pthreadIntKey, cell)
        }
        if nioVariable.currentValue == nil {
            nioVariable.currentValue = Counter()
        }
        Thread.current.threadDictionary[Self.threadDictionaryKey] = 0
        let id = currentThreadID()
        mutexMap.withLock { $0[id] = 0 }
    }
}

/// The calling thread's id, as the Mutex-map row keys its dictionary.
@inline(__always)
public func currentThreadID() -> UInt {
    #if canImport(Darwin)
        UInt(bitPattern: pthread_self())
    #else
        UInt(pthread_self())
    #endif
}

// MARK: - 1. Raw `_Thread_local` through inline C accessors (the floor)

@inline(never)
public func rawRead(_ n: Int) -> Int {
    var sum = 0
    for _ in 0..<n {
        sum &+= Int(rtls_get())
        rtls_barrier()
    }
    return sum
}

/// Wrapping increment in C: load, add, store.
@inline(never)
public func rawIncrement(_ n: Int) -> Int {
    for _ in 0..<n {
        rtls_increment()
        rtls_barrier()
    }
    return Int(rtls_get())
}

/// The same raw access, incremented in Swift with `+` (overflow-checked), the
/// fair floor for `counter.value += 1`.
@inline(never)
public func rawIncrementChecked(_ n: Int) -> Int {
    for _ in 0..<n {
        rtls_set(rtls_get() + 1)
        rtls_barrier()
    }
    return Int(rtls_get())
}

// MARK: - 2. The C typed slot API

@inline(never)
public func slotRead(_ slot: ctl_slot, _ n: Int) -> Int {
    var sum = 0
    for _ in 0..<n {
        sum &+= Int(ctl_get_i64(slot))
        rtls_barrier()
    }
    return sum
}

@inline(never)
public func slotIncrement(_ slot: ctl_slot, _ n: Int) -> Int {
    for _ in 0..<n {
        _ = ctl_set_i64(slot, ctl_get_i64(slot) &+ 1)
        rtls_barrier()
    }
    return Int(ctl_get_i64(slot))
}

@inline(never)
public func slotPointerIncrement(_ slot: ctl_slot, _ n: Int) -> Int {
    for _ in 0..<n {
        // Invariant: prepareCurrentThread() stored a value in `slot` on this
        // thread, so the pointer is non-nil.
        ctl_value_pointer(slot).unsafelyUnwrapped.pointee.i64 &+= 1
        rtls_barrier()
    }
    return Int(ctl_get_i64(slot))
}

/// A store into an empty entry, then a take: the C pair of the "set a
/// context, clear it after" and "take, put back" patterns.
@inline(never)
public func slotStoreTake(_ slot: ctl_slot, _ n: Int) -> Int {
    var sum = 0
    for i in 0..<n {
        _ = ctl_set_i64(slot, Int64(i))
        var taken = ctl_value()
        _ = ctl_take(slot, &taken)
        sum &+= Int(taken.i64)
        rtls_barrier()
    }
    return sum
}

// MARK: - 3. ThreadLocal

@inline(never)
public func threadLocalIntRead(_ counter: ThreadLocal<Int>, _ n: Int) -> Int {
    var sum = 0
    for _ in 0..<n {
        sum &+= counter.value
        rtls_barrier()
    }
    return sum
}

/// The same read, of a variable whose slot is beyond the inline lanes
/// (`Fixtures.threadLocalIntOutOfLine`): the out-of-line lookup path.
@inline(never)
public func threadLocalIntReadOutOfLine(_ counter: ThreadLocal<Int>, _ n: Int) -> Int {
    var sum = 0
    for _ in 0..<n {
        sum &+= counter.value
        rtls_barrier()
    }
    return sum
}

/// The natural spelling: `+=` on Int is overflow-checked.
@inline(never)
public func threadLocalIntIncrement(_ counter: ThreadLocal<Int>, _ n: Int) -> Int {
    for _ in 0..<n {
        counter.value += 1
        rtls_barrier()
    }
    return counter.value
}

@inline(never)
public func threadLocalIntIncrementWrapping(_ counter: ThreadLocal<Int>, _ n: Int) -> Int {
    for _ in 0..<n {
        counter.value &+= 1
        rtls_barrier()
    }
    return counter.value
}

@inline(never)
public func threadLocalIntWithValue(_ counter: ThreadLocal<Int>, _ n: Int) -> Int {
    for _ in 0..<n {
        counter.withValue { $0 &+= 1 }
        rtls_barrier()
    }
    return counter.value
}

/// Set a context for a job, clear it after.
@inline(never)
public func threadLocalIntSetReset(_ local: ThreadLocal<Int>, _ n: Int) -> Int {
    for i in 0..<n {
        local.value = i
        local.reset()
        rtls_barrier()
    }
    return n
}

/// Take the value, put it back (per-thread pools and scratch buffers).
@inline(never)
public func threadLocalIntTakeStore(_ local: ThreadLocal<Int>, _ n: Int) -> Int {
    for _ in 0..<n {
        let v = local.take()
        local.value = (v ?? 0) &+ 1
        rtls_barrier()
    }
    return local.value
}

@inline(never)
public func threadLocalClassRead(_ local: ThreadLocal<Counter>, _ n: Int) -> Int {
    var sum = 0
    for _ in 0..<n {
        sum &+= local.value.id
        rtls_barrier()
    }
    return sum
}

@inline(never)
public func threadLocalClassIncrement(_ local: ThreadLocal<Counter>, _ n: Int) -> Int {
    for _ in 0..<n {
        local.value.count &+= 1
        rtls_barrier()
    }
    return local.value.count
}

@inline(never)
public func threadLocalStructRead(_ local: ThreadLocal<Named>, _ n: Int) -> Int {
    var sum = 0
    for _ in 0..<n {
        sum &+= local.value.count
        rtls_barrier()
    }
    return sum
}

@inline(never)
public func threadLocalStructIncrement(_ local: ThreadLocal<Named>, _ n: Int) -> Int {
    for _ in 0..<n {
        local.value.count &+= 1
        rtls_barrier()
    }
    return local.value.count
}

@inline(never)
public func threadLocalStructWithValue(_ local: ThreadLocal<Named>, _ n: Int) -> Int {
    for _ in 0..<n {
        local.withValue { $0.count &+= 1 }
        rtls_barrier()
    }
    return local.value.count
}

// MARK: - 4. A pthread key, by hand
//
// Two spellings of each access: the natural one (`takeUnretainedValue()`,
// which retains and releases the box on every access), and the tightest one
// careful users write (`_withUnsafeGuaranteedRef`, which borrows it). For an
// Int counter, the tightest a pthread key allows is a pointer to a
// heap-allocated Int: one libc call, no box, no exclusivity check.

/// Natural spelling: `takeUnretainedValue()` then a property read.
@inline(never)
public func pthreadKeyRead(_ key: pthread_key_t, _ n: Int) -> Int {
    var sum = 0
    for _ in 0..<n {
        // Invariant: prepareCurrentThread() stored a +1 Counter in the key on
        // this thread; it stays alive until the thread exits.
        let box = Unmanaged<Counter>.fromOpaque(pthread_getspecific(key).unsafelyUnwrapped).takeUnretainedValue()
        sum &+= box.id
        rtls_barrier()
    }
    return sum
}

/// Tightest spelling: the box is borrowed, not retained.
@inline(never)
public func pthreadKeyReadGuaranteed(_ key: pthread_key_t, _ n: Int) -> Int {
    var sum = 0
    for _ in 0..<n {
        // Invariant: as in pthreadKeyRead; the key's +1 reference keeps the
        // box alive for the whole closure.
        sum &+= Unmanaged<Counter>.fromOpaque(pthread_getspecific(key).unsafelyUnwrapped)
            ._withUnsafeGuaranteedRef { $0.id }
        rtls_barrier()
    }
    return sum
}

@inline(never)
public func pthreadKeyIncrement(_ key: pthread_key_t, _ n: Int) -> Int {
    for _ in 0..<n {
        // Invariant: as in pthreadKeyRead.
        Unmanaged<Counter>.fromOpaque(pthread_getspecific(key).unsafelyUnwrapped).takeUnretainedValue().count &+= 1
        rtls_barrier()
    }
    return Unmanaged<Counter>.fromOpaque(pthread_getspecific(key).unsafelyUnwrapped).takeUnretainedValue().count
}

@inline(never)
public func pthreadKeyIncrementGuaranteed(_ key: pthread_key_t, _ n: Int) -> Int {
    for _ in 0..<n {
        // Invariant: as in pthreadKeyReadGuaranteed.
        Unmanaged<Counter>.fromOpaque(pthread_getspecific(key).unsafelyUnwrapped)
            ._withUnsafeGuaranteedRef { $0.count &+= 1 }
        rtls_barrier()
    }
    return Unmanaged<Counter>.fromOpaque(pthread_getspecific(key).unsafelyUnwrapped)._withUnsafeGuaranteedRef {
        $0.count
    }
}

/// Tightest Int read: the key holds a pointer to this thread's Int.
@inline(never)
public func pthreadKeyIntRead(_ key: pthread_key_t, _ n: Int) -> Int {
    var sum = 0
    for _ in 0..<n {
        // Invariant: prepareCurrentThread() stored an initialized Int pointer
        // in the key on this thread; it is freed only at thread exit.
        sum &+= pthread_getspecific(key).unsafelyUnwrapped.assumingMemoryBound(to: Int.self).pointee
        rtls_barrier()
    }
    return sum
}

@inline(never)
public func pthreadKeyIntIncrement(_ key: pthread_key_t, _ n: Int) -> Int {
    for _ in 0..<n {
        // Invariant: as in pthreadKeyIntRead.
        pthread_getspecific(key).unsafelyUnwrapped.assumingMemoryBound(to: Int.self).pointee &+= 1
        rtls_barrier()
    }
    return pthread_getspecific(key).unsafelyUnwrapped.assumingMemoryBound(to: Int.self).pointee
}

/// The store-after-take pair on a pthread key: set, get, clear.
@inline(never)
public func pthreadKeySetGetClear(_ key: pthread_key_t, _ n: Int) -> Int {
    var sum = 0
    for i in 0..<n {
        pthread_setspecific(key, UnsafeRawPointer(bitPattern: i | 1))
        sum &+= Int(bitPattern: pthread_getspecific(key))
        pthread_setspecific(key, nil)
        rtls_barrier()
    }
    return sum
}

// MARK: - 5. swift-nio's ThreadSpecificVariable
//
// As NIO users write it: `currentValue` is its only accessor.

@inline(never)
public func nioRead(_ variable: ThreadSpecificVariable<Counter>, _ n: Int) -> Int {
    var sum = 0
    for _ in 0..<n {
        sum &+= variable.currentValue.unsafelyUnwrapped.id
        rtls_barrier()
    }
    return sum
}

@inline(never)
public func nioIncrement(_ variable: ThreadSpecificVariable<Counter>, _ n: Int) -> Int {
    for _ in 0..<n {
        variable.currentValue.unsafelyUnwrapped.count &+= 1
        rtls_barrier()
    }
    return variable.currentValue.unsafelyUnwrapped.count
}

// MARK: - 6. Foundation's Thread.current.threadDictionary
//
// Its only spelling: a dictionary lookup and a cast per access.

@inline(never)
public func threadDictionaryRead(_ n: Int) -> Int {
    var sum = 0
    for _ in 0..<n {
        sum &+= Thread.current.threadDictionary[Fixtures.threadDictionaryKey] as? Int ?? 0
        rtls_barrier()
    }
    return sum
}

@inline(never)
public func threadDictionaryIncrement(_ n: Int) -> Int {
    for _ in 0..<n {
        let dictionary = Thread.current.threadDictionary
        let old = dictionary[Fixtures.threadDictionaryKey] as? Int ?? 0
        dictionary[Fixtures.threadDictionaryKey] = old &+ 1
        rtls_barrier()
    }
    return Thread.current.threadDictionary[Fixtures.threadDictionaryKey] as? Int ?? 0
}

// MARK: - 7. TaskLocal, read inside withValue (read-only: no read-modify-write)
//
// The tightest read there is: the wrapper's getter is `$value.get()`.

@inline(never)
public func taskLocalRead(_ n: Int) -> Int {
    TaskLocals.$value.withValue(1) {
        var sum = 0
        for _ in 0..<n {
            sum &+= TaskLocals.value
            rtls_barrier()
        }
        return sum
    }
}

// MARK: - 8. A global Mutex<[thread id: Value]>
//
// As tight as a lock allows: one `withLock` per access, the value updated in
// place in the dictionary (no copy out and back).

@inline(never)
public func mutexMapRead(_ map: borrowing Mutex<[UInt: Int]>, _ n: Int) -> Int {
    var sum = 0
    for _ in 0..<n {
        let id = currentThreadID()
        sum &+= map.withLock { $0[id] ?? 0 }
        rtls_barrier()
    }
    return sum
}

@inline(never)
public func mutexMapIncrement(_ map: borrowing Mutex<[UInt: Int]>, _ n: Int) -> Int {
    for _ in 0..<n {
        let id = currentThreadID()
        map.withLock { $0[id, default: 0] &+= 1 }
        rtls_barrier()
    }
    let id = currentThreadID()
    return map.withLock { $0[id] ?? 0 }
}

// MARK: - The cases

/// Operations per benchmark sample: enough that one sample takes about a millisecond.
public enum Size {
    public static let fast = 1 << 20  // ~1 ns per operation
    public static let medium = 1 << 14  // ~100 ns
    public static let slow = 1 << 10  // ~1 µs
}

/// One hot single-thread case: a loop above, run by the wall-clock benchmarks
/// (ThreadLocalBenchmarks; some on 1, 2 and 4 threads in ScalingBenchmarks)
/// and counted by callgrind (InstructionCounts).
public struct HotCase: Sendable {
    /// The row of the comparison: 1 raw `__thread`, 2 the C slot API,
    /// 3 `ThreadLocal`, 4 a pthread key, 5 swift-nio, 6 Foundation, 7 TaskLocal,
    /// 8 a Mutex-protected dictionary.
    public let row: Int
    public let label: String
    /// The loop's function name, which the disassembly looks up.
    public let function: String
    /// Operations per benchmark sample.
    public let operations: Int
    /// Whether InstructionCounts counts it (row 6 is timed only).
    public let counted: Bool
    /// Runs the loop `n` times on the variables of `fixtures`.
    public let run: @Sendable (_ fixtures: Fixtures, _ n: Int) -> Int

    init(
        _ row: Int,
        _ label: String,
        _ function: String,
        _ operations: Int,
        counted: Bool = true,
        _ run: @escaping @Sendable (Fixtures, Int) -> Int
    ) {
        (self.row, self.label, self.function, self.operations, self.counted, self.run) =
            (row, label, function, operations, counted, run)
    }
}

/// Every hot case, in the order of the comparison's rows.
public let hotCases: [HotCase] = [
    // 1. Raw __thread through inline C accessors: the floor.
    HotCase(1, "raw __thread read", "rawRead", Size.fast) { rawRead($1) },
    HotCase(1, "raw __thread increment (C, wrapping)", "rawIncrement", Size.fast) { rawIncrement($1) },
    HotCase(1, "raw __thread increment (Swift +, checked)", "rawIncrementChecked", Size.fast) {
        rawIncrementChecked($1)
    },
    // 2. The C typed slot API.
    HotCase(2, "ctl_get_i64", "slotRead", Size.fast) { slotRead($0.slot, $1) },
    HotCase(2, "ctl_set_i64(ctl_get_i64 &+ 1)", "slotIncrement", Size.fast) { slotIncrement($0.slot, $1) },
    HotCase(2, "ctl_value_pointer &+= 1", "slotPointerIncrement", Size.fast) { slotPointerIncrement($0.slot, $1) },
    HotCase(2, "ctl_set_i64 + ctl_take", "slotStoreTake", Size.medium) { slotStoreTake($0.storeSlot, $1) },
    // 3. ThreadLocal.
    HotCase(3, "ThreadLocal<Int> read", "threadLocalIntRead", Size.fast) { threadLocalIntRead($0.threadLocalInt, $1) },
    HotCase(3, "ThreadLocal<Int> value += 1", "threadLocalIntIncrement", Size.fast) {
        threadLocalIntIncrement($0.threadLocalInt, $1)
    },
    HotCase(3, "ThreadLocal<Int> value &+= 1", "threadLocalIntIncrementWrapping", Size.fast) {
        threadLocalIntIncrementWrapping($0.threadLocalInt, $1)
    },
    HotCase(3, "ThreadLocal<Int> withValue &+= 1", "threadLocalIntWithValue", Size.fast) {
        threadLocalIntWithValue($0.threadLocalInt, $1)
    },
    HotCase(3, "ThreadLocal<Int> read, slot beyond inline lanes", "threadLocalIntReadOutOfLine", Size.fast) {
        threadLocalIntReadOutOfLine($0.threadLocalIntOutOfLine, $1)
    },
    HotCase(3, "ThreadLocal<Int> value = x; reset()", "threadLocalIntSetReset", Size.medium) {
        threadLocalIntSetReset($0.storeInt, $1)
    },
    HotCase(3, "ThreadLocal<Int> take(); value = v", "threadLocalIntTakeStore", Size.medium) {
        threadLocalIntTakeStore($0.storeInt, $1)
    },
    HotCase(3, "ThreadLocal<Class> read", "threadLocalClassRead", Size.fast) {
        threadLocalClassRead($0.threadLocalClass, $1)
    },
    HotCase(3, "ThreadLocal<Class> value.count &+= 1", "threadLocalClassIncrement", Size.medium) {
        threadLocalClassIncrement($0.threadLocalClass, $1)
    },
    HotCase(3, "ThreadLocal<Struct+String> read", "threadLocalStructRead", Size.fast) {
        threadLocalStructRead($0.threadLocalStruct, $1)
    },
    HotCase(3, "ThreadLocal<Struct+String> value.count &+= 1", "threadLocalStructIncrement", Size.fast) {
        threadLocalStructIncrement($0.threadLocalStruct, $1)
    },
    HotCase(3, "ThreadLocal<Struct+String> withValue", "threadLocalStructWithValue", Size.fast) {
        threadLocalStructWithValue($0.threadLocalStruct, $1)
    },
    // 4. A pthread key, by hand: the tightest spelling of each access (an Int
    // pointer; a borrowed box) and the natural one (takeUnretainedValue).
    HotCase(4, "pthread key + Int pointer read", "pthreadKeyIntRead", Size.medium) {
        pthreadKeyIntRead($0.pthreadIntKey, $1)
    },
    HotCase(4, "pthread key + Int pointer &+= 1", "pthreadKeyIntIncrement", Size.medium) {
        pthreadKeyIntIncrement($0.pthreadIntKey, $1)
    },
    HotCase(4, "pthread key + Unmanaged read, guaranteed ref", "pthreadKeyReadGuaranteed", Size.medium) {
        pthreadKeyReadGuaranteed($0.pthreadKey, $1)
    },
    HotCase(4, "pthread key + Unmanaged read, unretained", "pthreadKeyRead", Size.medium) {
        pthreadKeyRead($0.pthreadKey, $1)
    },
    HotCase(4, "pthread key + Unmanaged count &+= 1, guaranteed ref", "pthreadKeyIncrementGuaranteed", Size.medium) {
        pthreadKeyIncrementGuaranteed($0.pthreadKey, $1)
    },
    HotCase(4, "pthread key + Unmanaged count &+= 1, unretained", "pthreadKeyIncrement", Size.medium) {
        pthreadKeyIncrement($0.pthreadKey, $1)
    },
    HotCase(4, "pthread key set + get + clear", "pthreadKeySetGetClear", Size.medium) {
        pthreadKeySetGetClear($0.storeKey, $1)
    },
    // 5. swift-nio's ThreadSpecificVariable.
    HotCase(5, "NIO ThreadSpecificVariable read", "nioRead", Size.medium) { nioRead($0.nioVariable, $1) },
    HotCase(5, "NIO ThreadSpecificVariable count &+= 1", "nioIncrement", Size.medium) {
        nioIncrement($0.nioVariable, $1)
    },
    // 6. Foundation.
    HotCase(6, "Thread.current.threadDictionary read", "threadDictionaryRead", Size.slow, counted: false) {
        threadDictionaryRead($1)
    },
    HotCase(6, "Thread.current.threadDictionary increment", "threadDictionaryIncrement", Size.slow, counted: false) {
        threadDictionaryIncrement($1)
    },
    // 7. TaskLocal (read-only inside a binding scope).
    HotCase(7, "TaskLocal read in withValue", "taskLocalRead", Size.medium) { taskLocalRead($1) },
    // 8. A global Mutex<[thread id: Int]>.
    HotCase(8, "Mutex<[tid: Int]> read", "mutexMapRead", Size.medium) { mutexMapRead($0.mutexMap, $1) },
    HotCase(8, "Mutex<[tid: Int]> increment", "mutexMapIncrement", Size.medium) { mutexMapIncrement($0.mutexMap, $1) },
]

// MARK: - The per-thread aggregates (AggregateBenchmarks, AggregateScaling)

@inline(never)
public func counterIncrements(_ counter: ThreadLocalCounter, _ n: Int) {
    for _ in 0..<n { counter.increment() }
}

@inline(never)
public func accumulatorUpdates(_ accumulator: ThreadLocalAccumulator<Int>, _ n: Int) {
    for _ in 0..<n { accumulator.update { $0 &+= 1 } }
}
