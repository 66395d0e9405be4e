#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The one entry point of the benchmarks. Without --only it runs the comparison:
# every way to keep per-thread state side by side (all package-benchmark suites)
# and the C store-after-take loop against a pthread key, in one run, and prints
# the tables.
#
#   bash Benchmarks/compare.sh                  # the comparison (minutes: a release build, then the runs)
#   bash Benchmarks/compare.sh --save           # also writes Benchmarks/Results and regenerates the
#                                               # READMEs' tables and figures from it
#   bash Benchmarks/compare.sh --only PART[,PART...] [--save] [ARGS...]   # ARGS: one part's own options
#   bash Benchmarks/compare.sh --list           # the parts
#
# Wall-clock figures on a shared machine are noisy; the percentiles and the load
# average printed with them show how much.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
scripts="$here/Scripts"
results="$here/Results"

parts_help() {
    cat <<'EOF'
benchmarks        package-benchmark, every suite: per access, across threads, per thread, lifecycle,
                  aggregates (ARGS go to package-benchmark, e.g. --filter 'P .*'); --save: Results/benchmarks.json
store-after-take  the C store into an empty entry (ctl_set + ctl_take) on 1, 2 and 4 threads against
                  a pthread key (set + get + clear); --save: Results/store-after-take.md
instructions      instructions per operation (callgrind) and the hot loops' disassembly; --check holds
                  them to Results/instructions.json (CI step 40); --save writes it
scaling           AggregateScaling: the aggregates in per-thread CPU time, pinned threads, false
                  sharing (ARGS: --ops N --rounds N); --save: Results/scaling.{json,svg}
server            the RealWorld HTTP server's four variants under wrk (ARGS: --smoke, --rounds N,
                  --no-pin, --name NAME, ...); --save: Results/NAME.{md,svg}
metrics           the RealWorld swift-metrics backend against an Atomic and swift-prometheus
                  (ARGS: --smoke); --save: Results/metrics.md
EOF
}

parts=(benchmarks store-after-take) save= args=()
while [[ $# -gt 0 ]]; do
    case $1 in
    --only) IFS=, read -ra parts <<<"${2:?--only needs PART[,PART...]}" && shift ;;
    --save) save=1 ;;
    --list) parts_help && exit 0 ;;
    *) args+=("$1") ;;
    esac
    shift
done
if [[ ${#args[@]} -gt 0 && ${#parts[@]} -ne 1 ]]; then
    echo "error: options other than --only and --save go to one part: --only PART ${args[*]}" >&2
    exit 2
fi

benchmarks() {
    local out="$here/.build/results"
    rm -rf "$out"
    mkdir -p "$out"
    swift package --package-path "$here" --disable-sandbox benchmark \
        --format jmh --path "$out" --no-progress "$@" 2>&1 | tee "$out/run.log" >&2
    # The load average right after the run: on a shared machine, a busy second
    # core means threads seldom run at the same time (see the thread rows).
    python3 "$scripts/results.py" table "$out/Current_run.jmh.json" --json "$out/benchmarks.json" \
        --load "$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo unknown)" --log "$out/run.log"
    if [[ -n $save ]]; then cp "$out/benchmarks.json" "$results/benchmarks.json"; fi
}

store-after-take() {
    local bin="$here/.build/store_after_take"
    mkdir -p "$here/.build"
    cc -O2 -std=c11 -I "$here/../include" -pthread "$here/../Sources/CThreadLocals/CThreadLocals.c" \
        "$scripts/store_after_take.c" -o "$bin"
    "$bin" 2000000 5 | tee "$here/.build/store-after-take.md"
    if [[ -n $save ]]; then cp "$here/.build/store-after-take.md" "$results/store-after-take.md"; fi
}

instructions() {
    local mode=print
    if [[ -n $save ]]; then mode=write; fi
    if [[ ${1:-} == --check ]]; then mode=check; fi
    bash "$scripts/instructions.sh" "$mode"
}

scaling() {
    swift run -c release --package-path "$here" AggregateScaling "$@" ${save:+--json "$results/scaling.json"}
    if [[ -n $save ]]; then python3 "$scripts/scaling_chart.py" "$results/scaling.json" "$results/scaling.svg"; fi
}

server() { bash "$scripts/server-load.sh" "$@" ${save:+--out "$results"}; }

metrics() {
    swift run -c release --package-path "$here/RealWorld" MetricsBenchmark "$@" \
        ${save:+--markdown "$results/metrics.md"}
}

for part in "${parts[@]}"; do
    if ! parts_help | grep -q "^$part "; then
        echo "error: no part '$part'; the parts (bash Benchmarks/compare.sh --list):" >&2
        parts_help | grep -o '^[a-z-]*' >&2
        exit 2
    fi
    echo "== $part" >&2
    "$part" "${args[@]}"
done
if [[ -n $save ]]; then
    if [[ " ${parts[*]} " == *" benchmarks "* ]]; then python3 "$scripts/results.py" chart; fi
    # The tables in Benchmarks/README.md and the README's headline
    # figures, each between its markers (CI step 57-figures checks them).
    python3 "$scripts/results.py" readmes
fi
