#!/usr/bin/env bash
# Regenerates Benchmarks/Results and the comparison section of Benchmarks/README.md:
# the comparison (compare.sh --save), the instruction counts and hot-loop
# disassembly (instructions.sh), the chart (Scripts/chart.py) and that
# text (Scripts/readme.py).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
bash "$here/compare.sh" --save
bash "$here/instructions.sh"
python3 "$here/Scripts/chart.py"
python3 "$here/Scripts/readme.py"
