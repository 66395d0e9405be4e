#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Regenerates Benchmarks/Results: the comparison (compare.sh --save), the
# instruction counts and hot-loop disassembly (instructions.sh), the chart
# (chart.svg, drawn with matplotlib, which it installs with pip if missing) and
# the tables (summary.md, and in the READMEs).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
bash "$here/compare.sh" --save
bash "$here/instructions.sh"
python3 "$here/Scripts/results.py" chart
# summary.md, the tables in Benchmarks/README.md and the README's headline
# figures, each between its markers (CI checks them: .ci/steps/57-figures.sh).
python3 "$here/Scripts/results.py" readmes
