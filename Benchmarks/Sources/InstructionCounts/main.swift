// Runs each hot single-thread case of HotLoops `n` times, for callgrind.
//
// What is measured: `instructions.sh` runs this twice under
// `valgrind --tool=callgrind --dump-before=*caseBoundary*` (with n and 2n):
// callgrind writes one dump per call of `caseBoundary()`, so each case's
// instructions land in a dump of their own. The difference between the two
// runs, divided by n, is the instructions of one access plus its share of the
// loop, with set-up, warm-up and the driver's own overhead cancelled out.
// (Dumps, not per-function inclusive costs: the optimiser merges cases whose
// loops compile to the same code into one shared body.)
//
//   InstructionCounts --list   prints "row<TAB>label<TAB>function" per case
//   InstructionCounts N        runs every case N times (after a warm-up)

import CRawTLS
import HotLoops

/// Marks the start of a case for callgrind's `--dump-before`. Not inlined, so
/// callgrind sees every call.
@inline(never)
func caseBoundary() {
    rtls_barrier()
}

let fixtures = Fixtures()

/// (row of the comparison, label, name of the HotLoops function, the call).
let cases: [(row: Int, label: String, function: String, run: (Int) -> Int)] = [
    (1, "raw __thread read", "rawRead", { rawRead($0) }),
    (1, "raw __thread increment (C, wrapping)", "rawIncrement", { rawIncrement($0) }),
    (1, "raw __thread increment (Swift +, checked)", "rawIncrementChecked", { rawIncrementChecked($0) }),
    (2, "ctl_get_i64", "slotRead", { slotRead(fixtures.slot, $0) }),
    (2, "ctl_set_i64(ctl_get_i64 &+ 1)", "slotIncrement", { slotIncrement(fixtures.slot, $0) }),
    (2, "ctl_value_pointer &+= 1", "slotPointerIncrement", { slotPointerIncrement(fixtures.slot, $0) }),
    (3, "ThreadLocal<Int> read", "threadLocalIntRead", { threadLocalIntRead(fixtures.threadLocalInt, $0) }),
    (
        3, "ThreadLocal<Int> value += 1", "threadLocalIntIncrement",
        { threadLocalIntIncrement(fixtures.threadLocalInt, $0) }
    ),
    (
        3, "ThreadLocal<Int> value &+= 1", "threadLocalIntIncrementWrapping",
        { threadLocalIntIncrementWrapping(fixtures.threadLocalInt, $0) }
    ),
    (
        3, "ThreadLocal<Int> withValue &+= 1", "threadLocalIntWithValue",
        { threadLocalIntWithValue(fixtures.threadLocalInt, $0) }
    ),
    (
        3, "ThreadLocal<Int> read, slot beyond inline lanes", "threadLocalIntReadOutOfLine",
        { threadLocalIntReadOutOfLine(fixtures.threadLocalIntOutOfLine, $0) }
    ),
    (3, "ThreadLocal<Class> read", "threadLocalClassRead", { threadLocalClassRead(fixtures.threadLocalClass, $0) }),
    (
        3, "ThreadLocal<Class> value.count &+= 1", "threadLocalClassIncrement",
        { threadLocalClassIncrement(fixtures.threadLocalClass, $0) }
    ),
    (
        3, "ThreadLocal<Struct+String> read", "threadLocalStructRead",
        { threadLocalStructRead(fixtures.threadLocalStruct, $0) }
    ),
    (
        3, "ThreadLocal<Struct+String> value.count &+= 1", "threadLocalStructIncrement",
        { threadLocalStructIncrement(fixtures.threadLocalStruct, $0) }
    ),
    (
        3, "ThreadLocal<Struct+String> withValue", "threadLocalStructWithValue",
        { threadLocalStructWithValue(fixtures.threadLocalStruct, $0) }
    ),
    (4, "pthread key + Int pointer read", "pthreadKeyIntRead", { pthreadKeyIntRead(fixtures.pthreadIntKey, $0) }),
    (
        4, "pthread key + Int pointer &+= 1", "pthreadKeyIntIncrement",
        { pthreadKeyIntIncrement(fixtures.pthreadIntKey, $0) }
    ),
    (
        4, "pthread key + Unmanaged read, guaranteed ref", "pthreadKeyReadGuaranteed",
        { pthreadKeyReadGuaranteed(fixtures.pthreadKey, $0) }
    ),
    (4, "pthread key + Unmanaged read, unretained", "pthreadKeyRead", { pthreadKeyRead(fixtures.pthreadKey, $0) }),
    (
        4, "pthread key + Unmanaged count &+= 1, guaranteed ref", "pthreadKeyIncrementGuaranteed",
        { pthreadKeyIncrementGuaranteed(fixtures.pthreadKey, $0) }
    ),
    (
        4, "pthread key + Unmanaged count &+= 1, unretained", "pthreadKeyIncrement",
        { pthreadKeyIncrement(fixtures.pthreadKey, $0) }
    ),
    (5, "NIO ThreadSpecificVariable read", "nioRead", { nioRead(fixtures.nioVariable, $0) }),
    (5, "NIO ThreadSpecificVariable count &+= 1", "nioIncrement", { nioIncrement(fixtures.nioVariable, $0) }),
    (7, "TaskLocal read in withValue", "taskLocalRead", { taskLocalRead($0) }),
    (8, "Mutex<[tid: Int]> read", "mutexMapRead", { mutexMapRead(fixtures.mutexMap, $0) }),
    (8, "Mutex<[tid: Int]> increment", "mutexMapIncrement", { mutexMapIncrement(fixtures.mutexMap, $0) }),
]

let arguments = CommandLine.arguments.dropFirst()
if arguments.first == "--list" {
    for entry in cases {
        print("\(entry.row)\t\(entry.label)\t\(entry.function)")
    }
} else {
    guard let n = arguments.first.flatMap({ Int($0) }), n > 0 else {
        fatalError("usage: InstructionCounts --list | InstructionCounts N")
    }
    fixtures.prepareCurrentThread()
    var total = 0
    for entry in cases {
        total &+= entry.run(16)  // warm-up: first-access work, page faults
    }
    for entry in cases {
        caseBoundary()
        total &+= entry.run(n)
    }
    caseBoundary()
    print("checksum \(total)")
}
