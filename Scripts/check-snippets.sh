#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Compiles every ```swift and ```c block of README.md, CONTRIBUTING.md,
# Benchmarks/README.md and the DocC articles: Swift blocks are type-checked
# against the built ThreadLocals module (declarations as library code,
# statements as a script), C blocks compiled against
# include/CThreadLocals.h. A failure names the Markdown file and line.
#
#   bash Scripts/check-snippets.sh [--list] [FILE.md ...]
#
# A block that is deliberately not a whole program is marked on the line
# before its fence with `<!-- fragment: why -->`; hidden set-up code goes in
# `<!-- snippet-setup ... -->`, and `<!-- snippet-continues -->` compiles a
# block after the previous one. See Scripts/check-snippets.py.
set -euo pipefail
cd "$(dirname "$0")/.."
swift build --target ThreadLocals
modules=$(swift build --show-bin-path)/Modules
python3 Scripts/check-snippets.py --modules "$modules" "$@"
