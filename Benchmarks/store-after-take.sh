#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The cost of a store after ctl_take, stated at ctl_set in include/CThreadLocals.h:
# a ctl_set + ctl_take pair on one and two threads, as instructions per pair
# (callgrind, (count(2N) - count(N)) / N per thread, so start-up cancels) and as
# wall-clock ns per pair (noisy on a shared machine; two threads contend for
# the store's mutex).
#
#   bash Benchmarks/store-after-take.sh
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cc -O2 -std=c11 -I "$root/include" -pthread "$root/Sources/CThreadLocals/CThreadLocals.c" \
    "$root/Benchmarks/Scripts/store_after_take.c" -o "$work/store_after_take"
N=100000
total() { callgrind_annotate "$1" | awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1; exit }'; }
for threads in 1 2; do
    for n in "$N" "$((2 * N))"; do
        valgrind --tool=callgrind --callgrind-out-file="$work/cg.$n" "$work/store_after_take" "$n" "$threads" \
            >/dev/null 2>"$work/valgrind.log"
    done
    echo "threads $threads: $((($(total "$work/cg.$((2 * N))") - $(total "$work/cg.$N")) / (N * threads))) instructions per set+take pair"
done
for threads in 1 2; do "$work/store_after_take" 5000000 "$threads"; done
