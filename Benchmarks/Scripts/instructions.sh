#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Instructions per operation of every hot single-thread case, counted by
# callgrind (repeatable on a shared, noisy machine, unlike wall time). Run as
# `compare.sh --only instructions` (prints), `instructions.sh` (write: Results/
# instructions.{json,txt} and disassembly.txt) or `instructions.sh --check`
# (compares with the checked-in Results/instructions.json; CI step 40).
#
#   bash Benchmarks/Scripts/instructions.sh print|write|check
#
# How: builds the InstructionCounts executable (release), copies it with
# `objcopy --strip-debug` (valgrind 3.19 cannot read the toolchain's DWARF 5),
# and runs it under callgrind twice, with N and 2N iterations per case. The
# executable calls `caseBoundary()` before each case and callgrind dumps its
# counters there (--dump-before), so each case gets its own dump; per case,
# (count(2N) - count(N)) / N is the instructions of one operation including
# its share of the loop, with start-up, warm-up and driver overhead cancelled.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
mode=${1:?usage: instructions.sh print|write|check}

bash "$here/../.ci/install-tools.sh" valgrind objcopy objdump
N=${INSTRUCTIONS_N:-100000}
swift build -c release --package-path "$here" --product InstructionCounts >&2
bin="$(swift build -c release --package-path "$here" --show-bin-path)/InstructionCounts"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
objcopy --strip-debug "$bin" "$work/InstructionCounts"
"$work/InstructionCounts" --list >"$work/cases.tsv"
for n in "$N" "$((2 * N))"; do
    mkdir -p "$work/$n"
    # Deterministic hashing: the Mutex<[tid: Int]> row hashes, and Swift seeds
    # its hasher per process otherwise.
    SWIFT_DETERMINISTIC_HASHING=1 valgrind --tool=callgrind --dump-before='*caseBoundary*' \
        --callgrind-out-file="$work/$n/cg" "$work/InstructionCounts" "$n" >"$work/$n/stdout" 2>"$work/$n/valgrind.log" || {
        cat "$work/$n/valgrind.log" >&2
        exit 1
    }
done

if [[ "$mode" == write ]]; then
    out="$here/Results"
else
    out="$work/fresh"
fi
mkdir -p "$out"
python3 "$here/Scripts/results.py" callgrind "$work/cases.tsv" "$N" "$work/$N" "$work/$((2 * N))" "$out"
if [[ "$mode" == write ]]; then
    # The hot loop of every case, with a check for calls inside it.
    # shellcheck disable=SC2046
    python3 "$here/Scripts/results.py" disassembly "$work/InstructionCounts" $(cut -f3 "$work/cases.tsv") \
        >"$out/disassembly.txt"
    echo "wrote Benchmarks/Results/instructions.json, disassembly.txt" >&2
elif [[ "$mode" == check ]]; then
    python3 "$here/Scripts/results.py" check "$here/Results/instructions.json" "$out/instructions.json"
fi
