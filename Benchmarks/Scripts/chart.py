#!/usr/bin/env python3
"""Draws Results/chart.svg from Results/benchmarks.json and instructions.json.

  python3 Benchmarks/Scripts/chart.py

Hand-written SVG (no plotting library needed). Top: time per access on one
thread, p50 as a bar and p90..p99 as a whisker, log scale, with callgrind's
instructions per operation on the right. Bottom: per-increment time of a
shared counter with 1, 2 and 4 threads.
"""
import json
import math
import os
from html import escape

here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
results = os.path.join(here, "Results")

COLORS = {
    "1": "#6b6b6b",
    "2": "#1b9e77",
    "3": "#2166ac",
    "4": "#d95f02",
    "5": "#b2182b",
    "6": "#7570b3",
    "7": "#a6761d",
    "8": "#66a61e",
}
INSTRUCTION_LABELS = {}


def main():
    with open(os.path.join(results, "benchmarks.json")) as f:
        bench = json.load(f)
    instructions = {}
    path = os.path.join(results, "instructions.json")
    if os.path.exists(path):
        with open(path) as f:
            for c in json.load(f)["cases"]:
                instructions[f"{c['row']} {c['label']}"] = c["instructions_per_op"]
    hot = bench["sections"][0]["rows"]
    scaling = bench["sections"][1]["rows"]

    left, right, top, bar_h, gap = 330, 90, 70, 16, 5
    plot_w = 900 - left - right
    lo, hi = 0.1, 10000.0

    def x(v):
        v = min(max(v, lo), hi)
        return left + plot_w * (math.log10(v) - math.log10(lo)) / (math.log10(hi) - math.log10(lo))

    out = []
    h1 = top + len(hot) * (bar_h + gap) + 40
    scale_top = h1 + 50
    h = scale_top + 3 * (3 * (bar_h + 2) + 14) + 10
    out.append(f'<svg xmlns="http://www.w3.org/2000/svg" width="900" height="{h}" font-family="sans-serif" font-size="12">')
    out.append('<rect width="100%" height="100%" fill="white"/>')
    out.append(
        f'<text x="10" y="22" font-size="15" font-weight="bold">Per-thread state in Swift: time per access, one thread (log scale)</text>'
    )
    out.append(
        f'<text x="10" y="42" fill="#555">{escape(bench["swift"])}; {escape(bench["cpu"])}, {bench["nproc"]} cores; bar = p50, whisker = p90..p99; right: instructions/op (callgrind)</text>'
    )
    # grid
    for decade in range(-1, 5):
        v = 10.0**decade
        gx = x(v)
        out.append(f'<line x1="{gx:.1f}" y1="{top - 8}" x2="{gx:.1f}" y2="{h1 - 30}" stroke="#ddd"/>')
        label = f"{v:g} ns" if v < 1000 else f"{v / 1000:g} µs"
        out.append(f'<text x="{gx:.1f}" y="{h1 - 16}" text-anchor="middle" fill="#555">{label}</text>')
    out.append(f'<text x="{900 - right + 45}" y="{top - 12}" text-anchor="middle" fill="#555">instr/op</text>')
    for i, r in enumerate(hot):
        y = top + i * (bar_h + gap)
        color = COLORS.get(r["name"][0], "#999")
        label = r["name"][2:]
        out.append(f'<text x="{left - 8}" y="{y + bar_h - 4}" text-anchor="end">{escape(label)}</text>')
        out.append(
            f'<rect x="{left}" y="{y}" width="{max(x(r["p50"]) - left, 1):.1f}" height="{bar_h}" fill="{color}"/>'
        )
        out.append(
            f'<line x1="{x(r["p90"]):.1f}" y1="{y + bar_h / 2}" x2="{x(r["p99"]):.1f}" y2="{y + bar_h / 2}" stroke="black"/>'
        )
        value = f'{r["p50"]:.2f}' if r["p50"] < 10 else f'{r["p50"]:,.0f}'
        label_x = max(x(r["p50"]), x(r["p99"])) + 4
        out.append(f'<text x="{label_x:.1f}" y="{y + bar_h - 4}" font-size="10" fill="#222">{value}</text>')
        ins = instructions.get(r["name"])
        if ins is not None:
            out.append(f'<text x="{900 - right + 45}" y="{y + bar_h - 4}" text-anchor="middle">{ins:g}</text>')

    # scaling panel: linear scale
    out.append(
        f'<text x="10" y="{scale_top - 14}" font-size="15" font-weight="bold">One counter incremented from T threads: ns per increment (p50; lower is better)</text>'
    )
    groups = {}
    for r in scaling:
        kind, threads = r["name"][2:].rsplit(", ", 1)
        groups.setdefault(kind, []).append((threads, r))
    vmax = max(r["p50"] for r in scaling) * 1.15
    y = scale_top
    for gi, (kind, rows) in enumerate(groups.items()):
        out.append(f'<text x="{left - 8}" y="{y + 12}" text-anchor="end" font-weight="bold">{escape(kind)}</text>')
        for threads, r in rows:
            w = plot_w * r["p50"] / vmax
            color = ["#2166ac", "#d95f02", "#b2182b"][gi % 3]
            out.append(f'<text x="{left - 8}" y="{y + bar_h - 3 + 14}" text-anchor="end" fill="#555">{threads}</text>')
            out.append(f'<rect x="{left}" y="{y + 14 - 2}" width="{max(w, 1):.1f}" height="{bar_h}" fill="{color}" opacity="0.85"/>')
            out.append(f'<text x="{left + w + 4:.1f}" y="{y + bar_h - 3 + 12}" font-size="10">{r["p50"]:.2f}</text>')
            y += bar_h + 2
        y += 14
    out.append("</svg>")
    with open(os.path.join(results, "chart.svg"), "w") as f:
        f.write("\n".join(out) + "\n")
    print("wrote Benchmarks/Results/chart.svg")


if __name__ == "__main__":
    main()
