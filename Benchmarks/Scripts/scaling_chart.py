#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Draws the scaling chart (SVG, no plotting library needed) and prints the Markdown tables
for the README from the JSON written by `AggregateScaling --json FILE`.

    python3 Benchmarks/Scripts/scaling_chart.py Benchmarks/Results/scaling.json Benchmarks/Results/scaling.svg
"""
import json
import math
import sys

data = json.load(open(sys.argv[1]))
out = sys.argv[2]

series = [
    ("ThreadLocal<Int>", "#555555"),
    ("ThreadLocalCounter", "#1f77b4"),
    ("Atomic<Int>.wrappingAdd", "#d62728"),
    ("Mutex<Int>", "#ff7f0e"),
    ("ThreadLocalAccumulator<Int>", "#2ca02c"),
]
threads = [1, 2, 4, 8]
cpu = {(r["name"], r["threads"]): r["cpu_ns"] for r in data["increment"]}

# Left panel: increment cost (log scale) vs threads. Right panel: sum() cost vs live threads.
W, H = 900, 420
pad_l, pad_r, pad_t, pad_b = 60, 20, 40, 100
panel_w = (W - 2 * pad_l - 2 * pad_r) / 2
plot_h = H - pad_t - pad_b
svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="12">',
       f'<rect width="{W}" height="{H}" fill="white"/>']


def text(x, y, s, anchor="middle", size=12, weight="normal"):
    s = s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    svg.append(f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" font-size="{size}" font-weight="{weight}">{s}</text>')


# Left panel.
x0 = pad_l
ymin, ymax = 0.1, 100.0
def ly(v):
    v = min(max(v, ymin), ymax)
    return pad_t + plot_h * (1 - (math.log10(v) - math.log10(ymin)) / (math.log10(ymax) - math.log10(ymin)))
def lx(t):
    return x0 + panel_w * (math.log2(t) / 3)

text(x0 + panel_w / 2, 20, f"Increment cost per operation (CPU ns, {data['cores']} cores)", weight="bold")
for v in [0.1, 0.3, 1, 3, 10, 30, 100]:
    y = ly(v)
    svg.append(f'<line x1="{x0}" y1="{y:.1f}" x2="{x0 + panel_w}" y2="{y:.1f}" stroke="#e0e0e0"/>')
    text(x0 - 6, y + 4, f"{v:g}", anchor="end")
for t in threads:
    text(lx(t), pad_t + plot_h + 18, str(t))
text(x0 + panel_w / 2, pad_t + plot_h + 36, "threads")
svg.append(f'<rect x="{x0}" y="{pad_t}" width="{panel_w}" height="{plot_h}" fill="none" stroke="#888"/>')
for i, (name, color) in enumerate(series):
    pts = [(lx(t), ly(cpu[(name, t)])) for t in threads if (name, t) in cpu]
    svg.append('<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>' % (color, " ".join(f"{x:.1f},{y:.1f}" for x, y in pts)))
    for x, y in pts:
        svg.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{color}"/>')
    lxx = x0 + (i % 3) * 150 - 40
    ly0 = H - 40 + (i // 3) * 16
    svg.append(f'<rect x="{lxx}" y="{ly0 - 9}" width="10" height="10" fill="{color}"/>')
    text(lxx + 14, ly0, name, anchor="start", size=11)

# Right panel: sum() cost.
x1 = pad_l * 2 + pad_r + panel_w
sums = data["sum"]
smax = max(r["ns"] for r in sums) * 1.1
tmax = max(r["threads"] for r in sums)
def rx(t):
    return x1 + panel_w * (math.log2(t) / math.log2(tmax))
def ry(v):
    return pad_t + plot_h * (1 - v / smax)
text(x1 + panel_w / 2, 20, "ThreadLocalCounter.sum() (ns) vs live threads", weight="bold")
step = 10 ** math.floor(math.log10(smax / 2))
v = 0
while v <= smax:
    y = ry(v)
    svg.append(f'<line x1="{x1}" y1="{y:.1f}" x2="{x1 + panel_w}" y2="{y:.1f}" stroke="#e0e0e0"/>')
    text(x1 - 6, y + 4, f"{v:g}", anchor="end")
    v += step if smax / step < 12 else step * 5
for r in sums:
    text(rx(r["threads"]), pad_t + plot_h + 18, str(r["threads"]))
text(x1 + panel_w / 2, pad_t + plot_h + 36, "threads with a live cell (log scale)")
svg.append(f'<rect x="{x1}" y="{pad_t}" width="{panel_w}" height="{plot_h}" fill="none" stroke="#888"/>')
pts = [(rx(r["threads"]), ry(r["ns"])) for r in sums]
svg.append('<polyline fill="none" stroke="#1f77b4" stroke-width="2" points="%s"/>' % " ".join(f"{x:.1f},{y:.1f}" for x, y in pts))
for x, y in pts:
    svg.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="#1f77b4"/>')
svg.append("</svg>")
open(out, "w").write("\n".join(svg) + "\n")

# Tables.
print("| CPU ns per increment | " + " | ".join(f"{t} thread{'s' if t > 1 else ''}" for t in threads) + " |")
print("|---|" + "---:|" * len(threads))
for name, _ in series:
    print(f"| `{name}` | " + " | ".join(f"{cpu[(name, t)]:.2f}" for t in threads) + " |")
print()
print("| false sharing: per-thread cells, CPU ns per increment | " + " | ".join(f"{t}" for t in threads) + " |")
print("|---|" + "---:|" * len(threads))
for name in ["cells 8 bytes apart (false sharing)", "cells 128 bytes apart"]:
    print(f"| {name} | " + " | ".join(f"{cpu[(name, t)]:.2f}" for t in threads) + " |")
print()
print("| threads with a live cell | " + " | ".join(str(r["threads"]) for r in sums) + " |")
print("|---|" + "---:|" * len(sums))
print("| `sum()` ns | " + " | ".join(f"{r['ns']:.0f}" for r in sums) + " |")
