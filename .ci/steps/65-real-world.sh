#!/usr/bin/env bash
# The real-world package (Benchmarks/RealWorld), briefly: builds it in release mode,
# runs the HTTP server's four variants under a second of wrk load each (every variant
# must answer /items correctly and serve requests; the table must print), and runs the
# metrics benchmark's smoke size, which fails if an exported counter is not exact
# after its threads have exited. Installs wrk and curl with apt-get if missing.
set -euo pipefail
package=Benchmarks/RealWorld

if ! command -v wrk >/dev/null || ! command -v curl >/dev/null; then
    apt-get update -qq
    apt-get install -y wrk curl >/dev/null
fi

swift build -c release --package-path $package
bash Benchmarks/server-load.sh --smoke
"$(swift build -c release --package-path $package --show-bin-path)/MetricsBenchmark" --smoke
