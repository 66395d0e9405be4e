#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The main job: every way to keep per-thread state, side by side, in one run.
#
#   bash Benchmarks/compare.sh          # build (release), run, print one table
#   bash Benchmarks/compare.sh --save   # also store it in Benchmarks/Results/benchmarks.json
#
# Runs all benchmark targets of this package with package-benchmark, exports
# the samples as JMH JSON, and prints per case: p50, p90 and p99 time per
# operation and the ratio to the raw __thread floor measured in the same run,
# and each ThreadLocal case against the best alternative (Scripts/results.py).
# Wall-clock figures on a shared machine are noisy; the percentiles show how
# much. For instruction counts, see instructions.sh.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="$here/.build/results"
rm -rf "$out"
mkdir -p "$out"
swift package --package-path "$here" --disable-sandbox benchmark \
    --format jmh --path "$out" --no-progress 2>&1 | tee "$out/run.log" >&2
# The load average right after the run: on a shared machine, a busy second
# core means threads seldom run at the same time (see the scaling rows).
load="$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo unknown)"
python3 "$here/Scripts/results.py" table "$out/Current_run.jmh.json" --json "$out/benchmarks.json" \
    --load "$load" --log "$out/run.log"
if [[ "${1:-}" == "--save" ]]; then
    mkdir -p "$here/Results"
    cp "$out/benchmarks.json" "$here/Results/benchmarks.json"
    echo "saved to Benchmarks/Results/benchmarks.json" >&2
fi
