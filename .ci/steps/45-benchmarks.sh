#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The benchmark package (Benchmarks/) builds in release mode, every target:
# the package-benchmark suites that compare.sh runs, InstructionCounts and
# AggregateScaling. AggregateScaling then runs at a tiny size, which checks its
# sum() results exactly (the figures of such a run mean nothing).
set -euo pipefail
swift build -c release --package-path Benchmarks
"$(swift build -c release --package-path Benchmarks --show-bin-path)/AggregateScaling" --ops 1000 --rounds 1
