// SPDX-License-Identifier: Apache-2.0
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

let cases = hotCases.filter(\.counted)

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
        total &+= entry.run(fixtures, 16)  // warm-up: first-access work, page faults
    }
    for entry in cases {
        caseBoundary()
        total &+= entry.run(fixtures, n)
    }
    caseBoundary()
    print("checksum \(total)")
}
