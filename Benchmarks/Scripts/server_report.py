# SPDX-License-Identifier: Apache-2.0
"""Summarises the RealWorld server's load runs: a table on stdout and, with --out DIR,
DIR/server.md and DIR/server.svg (a bar chart written as plain SVG; --name sets the
file names).

    python3 Benchmarks/Scripts/server_report.py RAW --setup TEXT [--out DIR] [--name NAME]

RAW has one line per run: variant round requests_per_s p50 p99 requests mallocs
non2xx socket_errors load1 kits (seconds for the latencies; kits: RequestKits the
server made in its whole life, warm-up and checks included).
"""

import argparse
import datetime
import os
import statistics

parser = argparse.ArgumentParser()
parser.add_argument("raw")
parser.add_argument("--setup", default="")
parser.add_argument("--out")
parser.add_argument("--name", default="server", help="file names in --out: NAME.md and NAME.svg")
args = parser.parse_args()

names = ["variant", "round", "rps", "p50", "p99", "requests", "mallocs", "non2xx", "errors", "load", "kits"]
runs = []
for line in open(args.raw):
    if line.startswith("#") or not line.strip():
        continue
    fields = dict(zip(names, line.split()))
    for name in names[2:]:
        fields[name] = float(fields[name])
    runs.append(fields)

order = ["threadlocal", "per-request", "mutex", "nio-tsv"]
labels = {
    "threadlocal": "ThreadLocal",
    "per-request": "new objects per request",
    "mutex": "one shared set behind a Mutex",
    "nio-tsv": "swift-nio ThreadSpecificVariable",
}
summary = {}
for variant in order:
    mine = [run for run in runs if run["variant"] == variant]
    if not mine:
        continue
    summary[variant] = {
        "rps": statistics.mean(run["rps"] for run in mine),
        "rps_min": min(run["rps"] for run in mine),
        "rps_max": max(run["rps"] for run in mine),
        "p50": statistics.mean(run["p50"] for run in mine) * 1e3,
        "p99": statistics.mean(run["p99"] for run in mine) * 1e3,
        "allocs": sum(run["mallocs"] for run in mine) / max(1, sum(run["requests"] for run in mine)),
        "failed": sum(run["non2xx"] for run in mine),
        "kits": max(run["kits"] for run in mine),
    }
reference = summary.get("threadlocal", {}).get("rps") or 1
loads = [run["load"] for run in runs]

table = [
    "| variant | requests/s (mean; range) | vs ThreadLocal | p50 ms | p99 ms | allocations/request | kits made |",
    "|---|---:|---:|---:|---:|---:|---:|",
]
for variant, row in summary.items():
    table.append(
        f"| `{variant}`: {labels[variant]} | {row['rps']:,.0f} ({row['rps_min']:,.0f}–{row['rps_max']:,.0f}) "
        f"| {row['rps'] / reference:.2f}× | {row['p50']:.2f} | {row['p99']:.2f} | {row['allocs']:.1f} "
        f"| {row['kits']:,.0f} |"
    )
load_text = f"load average (1 min) during the runs: {min(loads):.2f}–{max(loads):.2f}"
print("\n".join(table))
print(f"\n{args.setup}; {load_text}")

if args.out:
    os.makedirs(args.out, exist_ok=True)
    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    with open(os.path.join(args.out, args.name + ".md"), "w") as file:
        file.write(f"Measured {date}: {args.setup}; {load_text}.\n\n" + "\n".join(table) + "\n")

    # Two panels: requests/s (bar = mean, whisker = range over rounds) and allocations/request.
    width, height, left, top, bar, gap = 760, 300, 250, 40, 26, 14
    panel = (width - left - 40) // 2
    svg = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        'font-family="sans-serif" font-size="12">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="10" y="20" font-size="14" font-weight="bold">RealWorld server: per-request objects kept four ways</text>',
    ]
    panels = [("requests/s (range over rounds)", "rps", "#4c78a8"), ("allocations per request", "allocs", "#f58518")]
    for index, (title, key, colour) in enumerate(panels):
        x0 = left + index * (panel + 20)
        top_value = max(row.get(key + "_max", row[key]) for row in summary.values()) * 1.15 or 1
        svg.append(f'<text x="{x0}" y="{top + 4}" font-weight="bold">{title}</text>')
        for row_index, (variant, row) in enumerate(summary.items()):
            y = top + 20 + row_index * (bar + gap)
            if index == 0:
                svg.append(f'<text x="{left - 8}" y="{y + bar / 2 + 4}" text-anchor="end">{labels[variant]}</text>')
            length = row[key] / top_value * panel
            svg.append(f'<rect x="{x0}" y="{y}" width="{length:.1f}" height="{bar}" fill="{colour}"/>')
            if key == "rps":
                low, high = (row["rps_min"] / top_value * panel, row["rps_max"] / top_value * panel)
                svg.append(
                    f'<line x1="{x0 + low:.1f}" x2="{x0 + high:.1f}" y1="{y + bar / 2}" y2="{y + bar / 2}" '
                    'stroke="black" stroke-width="1.5"/>'
                )
                text = f"{row[key]:,.0f} ({row[key] / reference:.2f}×)"
            else:
                text = f"{row[key]:.1f}"
            svg.append(f'<text x="{x0 + length + 4:.1f}" y="{y - 3}" font-size="11">{text}</text>')
    footer_y = top + 20 + len(summary) * (bar + gap) + 10
    for line_index, line in enumerate([args.setup, load_text + "; " + date]):
        svg.append(f'<text x="10" y="{footer_y + 16 * line_index}" font-size="10" fill="#444">{line}</text>')
    svg.append("</svg>")
    with open(os.path.join(args.out, args.name + ".svg"), "w") as file:
        file.write("\n".join(svg) + "\n")
    print(f"wrote {args.out}/{args.name}.md and {args.name}.svg")
