#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Load test of the RealWorld server's four variants (Benchmarks/RealWorld): where the
# JSONEncoder, DateFormatter and scratch buffer of each request come from
# (threadlocal, per-request, mutex, nio-tsv). Same run, interleaved, repeated. The
# `server` part of compare.sh:
#
#   bash Benchmarks/compare.sh --only server [--save]   # 2 rounds x 4 variants x 10 s; --save
#                                                       # writes Benchmarks/Results/server.{md,svg}
#   bash Benchmarks/compare.sh --only server --smoke    # a few seconds: every variant answers
#                                                       # correctly and the table prints (CI)
#
# Options: --rounds N, --duration SECONDS, --connections N, --threads N (wrk's),
# --no-pin (do not pin the server to CPU 0 and wrk to CPU 1), --out DIR, --name NAME
# (the result files' names: NAME.md and NAME.svg; default server).
#
# Loopback only (127.0.0.1, a port the kernel picks). wrk and curl are installed if
# missing (.ci/install-tools.sh). Allocations are counted in the server by a preloaded malloc counter
# (Scripts/malloc_count.c), read through /stats before and after each run.
set -euo pipefail
trap 'echo "error: $0 failed at line $LINENO: $BASH_COMMAND" >&2' ERR
cd "$(dirname "$0")/../.."
package=Benchmarks/RealWorld scripts=Benchmarks/Scripts

rounds=2 duration=10 connections=32 threads=2 pin=1 smoke=0 out= name=server
while [[ $# -gt 0 ]]; do
    case $1 in
    --smoke) smoke=1 rounds=1 duration=1 connections=8 ;;
    --rounds) rounds=$2 && shift ;;
    --duration) duration=$2 && shift ;;
    --connections) connections=$2 && shift ;;
    --threads) threads=$2 && shift ;;
    --no-pin) pin=0 ;;
    --out) out=$2 && shift ;;
    --name) name=$2 && shift ;;
    *) echo "usage: $0 [--smoke] [--rounds N] [--duration S] [--connections N] [--threads N] [--no-pin] [--out DIR] [--name NAME]" >&2 && exit 2 ;;
    esac
    shift
done
# Bounds: this is a benchmark on a shared machine, not a stress test.
((rounds >= 1 && rounds <= 5 && duration >= 1 && duration <= 30 && connections >= 1 && connections <= 256)) || {
    echo "error: rounds 1-5, duration 1-30 s, connections 1-256" >&2
    exit 2
}
variants=(threadlocal per-request mutex nio-tsv)

bash .ci/install-tools.sh wrk curl

swift build -c release --package-path $package --product RealWorldServer
server=$(swift build -c release --package-path $package --show-bin-path)/RealWorldServer

work=$(mktemp -d)
pid=
cleanup() {
    [[ -n $pid ]] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT
cc -O2 -Wall -shared -fPIC -o "$work/malloc-count.so" $scripts/malloc_count.c

server_cpu=() client_cpu=()
if ((pin)) && [[ $(nproc) -ge 2 ]]; then
    server_cpu=(taskset -c 0) client_cpu=(taskset -c 1)
fi
query='/items?user=Ada%20Lovelace&n=8'

# start VARIANT: starts the server, sets $pid and $port.
starts=0
start() {
    # A new log file each time: the previous server's log still names its port.
    starts=$((starts + 1))
    local log=$work/server-$starts.log
    LD_PRELOAD=$work/malloc-count.so "${server_cpu[@]}" "$server" "$1" --port 0 >"$log" 2>&1 &
    pid=$!
    for _ in $(seq 100); do
        port=$(sed -n 's/^listening on 127.0.0.1:\([0-9]*\).*/\1/p' "$log" 2>/dev/null)
        [[ -n $port ]] && return 0
        sleep 0.1
    done
    cat "$log" >&2
    echo "error: the $1 server did not start" >&2
    exit 1
}

stop() {
    kill "$pid"
    wait "$pid" 2>/dev/null || true
    pid=
}

# stat NAME: a line of /stats.
stat() { curl -sf "http://127.0.0.1:$port/stats" | sed -n "s/^$1 //p"; }

echo "# variant round requests_per_s p50 p99 requests mallocs non2xx socket_errors load1 kits" >"$work/raw.txt"
for round in $(seq "$rounds"); do
    # Interleaved: the order alternates between rounds, so drift in the machine's load
    # does not always favour the same variant.
    order=("${variants[@]}")
    ((round % 2 == 0)) && order=(nio-tsv mutex per-request threadlocal)
    for variant in "${order[@]}"; do
        start "$variant"
        # Correctness: the body is the catalog asked for, byte for byte the same in every
        # variant but for generatedAt, and the ETag is its FNV-1a hash.
        curl -sf -D "$work/headers" -o "$work/body-$variant.json" "http://127.0.0.1:$port$query"
        python3 $scripts/server_check.py "$work/body-$variant.json" "$work/headers" \
            "$work/body-${variants[0]}.json"
        # Warm-up (unmeasured): threads create their per-thread objects, caches fill.
        "${client_cpu[@]}" wrk -t"$threads" -c"$connections" -d1s "http://127.0.0.1:$port$query" >/dev/null
        requests_before=$(stat requests) mallocs_before=$(stat mallocs)
        "${client_cpu[@]}" wrk -t"$threads" -c"$connections" -d"${duration}s" --latency \
            "http://127.0.0.1:$port$query" >"$work/wrk.txt"
        requests_after=$(stat requests) mallocs_after=$(stat mallocs) kits=$(stat kits)
        load=$(cut -d' ' -f1 /proc/loadavg)
        # The request counter's exported value agrees with /stats.
        exported=$(curl -sf "http://127.0.0.1:$port/metrics" | sed -n "s/^http_requests_total{variant=\"$variant\"} //p")
        [[ $exported == "$(stat requests)" ]] || {
            echo "error: /metrics says $exported requests, /stats $(stat requests)" >&2
            exit 1
        }
        stop
        python3 - "$work/wrk.txt" "$variant" "$round" "$((requests_after - requests_before))" \
            "$((mallocs_after - mallocs_before))" "$load" "$kits" >>"$work/raw.txt" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
def seconds(value):
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", value).groups()
    return float(number) * {"us": 1e-6, "ms": 1e-3, "s": 1, "m": 60}[unit]
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
p50 = seconds(re.search(r"^\s+50%\s+(\S+)", text, re.M).group(1))
p99 = seconds(re.search(r"^\s+99%\s+(\S+)", text, re.M).group(1))
non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
print(sys.argv[2], sys.argv[3], rps, p50, p99, sys.argv[4], sys.argv[5],
      non2xx.group(1) if non2xx else 0, sum(map(int, errors.groups())) if errors else 0, sys.argv[6], sys.argv[7])
PY
        tail -1 "$work/raw.txt" | awk '{printf "  round %s %-12s %9.0f req/s  p50 %.2f ms  p99 %.2f ms  load %s\n", $2, $1, $3, $4 * 1000, $5 * 1000, $10}'
    done
done

setup="$rounds round(s) x ${#variants[@]} variants x $duration s, wrk -t$threads -c$connections, $(nproc) CPUs shared by server and wrk"
if [[ ${#server_cpu[@]} -gt 0 ]]; then setup+=", server pinned to CPU 0 and wrk to CPU 1"; fi
python3 $scripts/server_report.py "$work/raw.txt" --setup "$setup" ${out:+--out "$out" --name "$name"}
if ((smoke)); then
    # Every variant served requests, and none failed. Kits made (over the whole server's
    # life): one per thread at most with threadlocal and nio-tsv (fewer than 64 threads),
    # exactly one with mutex, at least one per request with per-request.
    awk '!/^#/ && ($6 <= 0 || $8 > 0) { print "error: " $1 " served " $6 " requests, " $8 " failed"; bad = 1 }
        !/^#/ && (($1 == "threadlocal" || $1 == "nio-tsv") && $11 >= 64 || $1 == "mutex" && $11 != 1 || $1 == "per-request" && $11 < $6) {
            print "error: " $1 " made " $11 " kits for " $6 " requests"; bad = 1 }
        END { exit bad }' "$work/raw.txt"
    echo "smoke: all ${#variants[@]} variants answered correctly under load"
fi
