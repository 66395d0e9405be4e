#!/usr/bin/env bash
# Regenerates Benchmarks/Results: the comparison (compare.sh --save), the
# instruction counts and hot-loop disassembly (instructions.sh), the chart
# (chart.svg, drawn with matplotlib, which it installs with pip if missing) and
# the tables (summary.md).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
bash "$here/compare.sh" --save
bash "$here/instructions.sh"
python3 "$here/Scripts/results.py" chart
python3 "$here/Scripts/results.py" summary
# The tables go into Benchmarks/README.md too, between its markers.
python3 - "$here/README.md" "$here/Results/summary.md" <<'PY'
import sys
readme, summary = sys.argv[1], sys.argv[2]
text = open(readme).read()
begin, end = "<!-- BEGIN benchmarks -->", "<!-- END benchmarks -->"
head, rest = text.split(begin, 1)
_, tail = rest.split(end, 1)
body = open(summary).read().rstrip()
open(readme, "w").write(head + begin + "\n## The comparison\n\n" + body + "\n" + end + tail)
PY
