#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The real-world package (Benchmarks/RealWorld), briefly: builds it in release mode,
# runs the HTTP server's four variants under a second of wrk load each (every variant
# must answer /items correctly and serve requests; the table must print), and runs the
# metrics benchmark's smoke size, which fails if an exported counter is not exact
# after its threads have exited. Installs wrk and curl if missing.
set -euo pipefail
package=Benchmarks/RealWorld

bash .ci/install-tools.sh wrk curl

swift build -c release --package-path $package
bash Benchmarks/compare.sh --only server --smoke
"$(swift build -c release --package-path $package --show-bin-path)/MetricsBenchmark" --smoke
