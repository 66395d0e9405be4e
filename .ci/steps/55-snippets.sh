#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Every ```swift and ```c block of the README, CONTRIBUTING, Benchmarks/README
# and the DocC articles compiles: Swift blocks type-check against the built
# ThreadLocals module, C blocks compile against include/CThreadLocals.h.
# Blocks marked `<!-- fragment: why -->` are skipped (see Scripts/check-snippets.py).
set -euo pipefail
bash Scripts/check-snippets.sh
