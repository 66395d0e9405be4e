#!/usr/bin/env python3
"""Writes the comparison section of Benchmarks/README.md from Benchmarks/Results.

  python3 Benchmarks/Scripts/readme.py

Replaces the text between `<!-- BEGIN benchmarks -->` and
`<!-- END benchmarks -->` in Benchmarks/README.md: machine, commands, chart,
targets (met or missed, with figures), the comparison table with instruction
counts, and the thread-scaling and lifecycle tables.
"""
import json
import os
import re

here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
results = os.path.join(here, "Results")


def fmt(x):
    if x is None:
        return "–"
    if x >= 100:
        return f"{x:,.0f}"
    if x >= 10:
        return f"{x:.1f}"
    return f"{x:.2f}"


def main():
    with open(os.path.join(results, "benchmarks.json")) as f:
        bench = json.load(f)
    with open(os.path.join(results, "instructions.json")) as f:
        instr = json.load(f)
    with open(os.path.join(results, "disassembly.txt")) as f:
        disassembly = f.read()
    ins = {f"{c['row']} {c['label']}": c["instructions_per_op"] for c in instr["cases"]}
    hot, scaling, life = (s["rows"] for s in bench["sections"])
    t = {r["name"]: r for r in hot + scaling + life}

    def p50(name):
        return t[name]["p50"]

    raw_read, raw_inc = "1 raw __thread read", "1 raw __thread increment (C, wrapping)"
    raw_checked = "1 raw __thread increment (Swift +, checked)"
    tl_read, tl_inc, tl_wrap = "3 ThreadLocal<Int> read", "3 ThreadLocal<Int> value += 1", "3 ThreadLocal<Int> value &+= 1"
    cls, pk, nio = "3 ThreadLocal<Class> read", "4 pthread key + Unmanaged read", "5 NIO ThreadSpecificVariable read"

    def loop_calls(function):
        m = re.search(rf"== {function} \(.*?\n(.*?)calls in the loop: ([^\n]*)", disassembly, re.S)
        return m.group(2) if m else "?"

    targets = []
    for name, floor, function in [
        (tl_read, raw_read, "threadLocalIntRead"),
        (tl_wrap, raw_inc, "threadLocalIntIncrementWrapping"),
        (tl_inc, raw_inc, "threadLocalIntIncrement"),
    ]:
        d = ins[name] - ins[floor]
        ratio = p50(name) / p50(floor)
        calls = loop_calls(function)
        met = d <= 5 and ratio <= 1.2 and calls == "none" and (t[name]["allocs_per_op"] or 0) == 0
        detail = (
            f"{ins[name]:g} vs {ins[floor]:g} instructions/op (+{d:g}); {ratio:.2f}× the time "
            f"({fmt(p50(name))} vs {fmt(p50(floor))} ns p50); calls in the loop: {calls}; "
            f"allocations/op: {t[name]['allocs_per_op']:.0f}"
        )
        if name == tl_inc:
            detail += (
                f". Swift's `+=` on Int is overflow-checked (`inc; jo`): against the same checked increment on raw "
                f"`__thread` ({ins[raw_checked]:g} instructions/op) it is +{ins[name] - ins[raw_checked]:g}"
            )
        targets.append((f"`{name[2:]}` within 5 instructions/op and 1.2× the time of raw `__thread`, no calls", met, detail))
    speed = p50(nio) / p50(cls)
    targets.append(
        (
            "`ThreadLocal<Class>` read at least 10× faster than swift-nio's `ThreadSpecificVariable`",
            speed >= 10,
            f"{speed:.1f}× ({fmt(p50(cls))} vs {fmt(p50(nio))} ns p50; {ins[cls]:g} vs {ins[nio]:g} instructions/op)",
        )
    )
    r = ins[cls] / ins[pk]
    targets.append(
        (
            "`ThreadLocal<Class>` read at most 0.4× the instructions of the hand-made pthread-key read",
            r <= 0.4,
            f"{r:.2f}× ({ins[cls]:g} vs {ins[pk]:g} instructions/op)",
        )
    )
    tl1, tl2 = p50("S ThreadLocal<Int> per-thread counter, 1 threads"), p50("S ThreadLocal<Int> per-thread counter, 2 threads")
    at1, at2 = p50("S Atomic<Int>.wrappingAdd, 1 threads"), p50("S Atomic<Int>.wrappingAdd, 2 threads")
    speedup, atomic = tl1 / tl2, at1 / at2
    # Met: near-linear on the 2 cores (>= 1.6x) while the atomic gains
    # nothing; partly met: the per-thread counter gains and the atomic does not,
    # but less than the cores allow (on this shared machine, a busy second core).
    state = "met" if speedup >= 1.6 and atomic <= 1.05 else "partly met" if speedup > 1.05 and atomic <= 1.05 else "missed"
    targets.append(
        (
            "Per-thread counters scale with threads where a contended `Atomic<Int>` does not",
            state,
            f"ns per increment, 1 → 2 threads: ThreadLocal {fmt(tl1)} → {fmt(tl2)} ({speedup:.2f}× the throughput; "
            f"2× is the most 2 cores allow), Atomic {fmt(at1)} → {fmt(at2)} ({atomic:.2f}×); the load average "
            f"right after the run was {bench.get('load_average') or 'not recorded'}",
        )
    )

    lines = [
        "## The comparison",
        "",
        f"Measured on {bench['nproc']} cores (`nproc`), {bench['cpu']} (`/proc/cpuinfo`), {bench['swift']}, Linux, "
        "release builds, on a machine shared with other engineers' builds "
        f"(load average right after the run: {bench.get('load_average') or 'not recorded'}). Wall-clock figures are "
        "noisy there (the percentiles show how much; a loaded sibling core can double a 1-cycle loop); the "
        "instruction counts do not depend on it.",
        "",
        "- `bash Benchmarks/compare.sh` runs every comparison in one run (package-benchmark, all targets) and prints "
        "the table below. From a clean checkout, first build included, it took 2 min 37 s here on a quiet machine "
        "(once built, the run alone takes about 35 s); while other engineers' builds loaded the 2 cores (load "
        "average 6), 4 min 8 s, and once 13 min, when the first build of package-benchmark's own tool took 316 s "
        "instead of 33 s.",
        "- `bash Benchmarks/instructions.sh` counts instructions per operation with callgrind "
        "(`Benchmarks/Results/instructions.txt`) and prints every hot loop (`Benchmarks/Results/disassembly.txt`); "
        "CI (`.ci/steps/40-instruction-counts.sh`) holds rows 1–3 to the checked-in counts.",
        "- `bash Benchmarks/update-results.sh` regenerates everything in this section: results, chart and this text "
        "(written by `Benchmarks/Scripts/readme.py`).",
        "",
        "![Time per access and per increment](Results/chart.svg)",
        "",
        "### Targets",
        "",
    ]
    for description, met, detail in targets:
        state = met if isinstance(met, str) else "met" if met else "missed"
        lines.append(f"- **{state}**: {description}: {detail}.")
    lines += [
        "",
        "### Per access, one thread",
        "",
        "Time per operation over samples of 1,024 to 1,048,576 operations; ratio = p50 over the p50 of raw `__thread` "
        "(read, or wrapping increment) in the same run; instructions per operation (loop included) from callgrind.",
        "",
        "| case | p50 ns | p90 ns | p99 ns | × raw | instr/op | allocs/op |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in hot:
        label = r["name"][2:].replace("|", "\\|")
        lines.append(
            f"| {label} | {fmt(r['p50'])} | {fmt(r['p90'])} | {fmt(r['p99'])} | "
            f"{r['ratio']:.2f} | {ins.get(r['name'], '–')} | {r['allocs_per_op']:.0f} |"
        )
    lines += [
        "",
        "Rows: 1 raw `__thread` through inline C accessors (the floor), 2 the C slot API, 3 `ThreadLocal`, "
        "4 a pthread key holding an `Unmanaged` box, by hand, 5 swift-nio's `ThreadSpecificVariable`, "
        "6 Foundation's `threadDictionary`, 7 `TaskLocal` (read-only inside `withValue`), 8 a global "
        "`Mutex<[thread id: Int]>`. Incrementing a stored property of a class value (`count &+= 1` in rows 3–5) "
        "pays Swift's dynamic exclusivity check on that property (`swift_beginAccess`), whatever holds the object.",
        "",
        "Loops of 3 to 9 instructions run in 1 or 2 cycles per iteration here (0.27 or 0.54 ns), and which one "
        "depends on where the code lands: across rebuilds, `ThreadLocal<Int>` read and `value += 1` have each "
        "measured at both. The time ratios of these rows move by whole cycles between builds; the instruction "
        "counts do not.",
        "",
        "### Across threads",
        "",
        "N increments of one logical counter split over T new threads, per increment (thread start and exit "
        "included). The machine has 2 cores, shared with other jobs: when the other core is busy, the threads "
        "seldom run at the same time, which hides both the per-thread counter's speed-up and the atomic's "
        "contention (both need two threads actually running at once); see the load average above.",
        "",
        "| case | p50 ns | p90 ns | p99 ns | × 1 thread |",
        "|---|---:|---:|---:|---:|",
    ]
    for r in scaling:
        lines.append(f"| {r['name'][2:]} | {fmt(r['p50'])} | {fmt(r['p90'])} | {fmt(r['p99'])} | {r['ratio']:.2f} |")
    for name in bench.get("dropped") or []:
        lines.append(f"| {name[2:]} | not exported: a sample took over a second | | | |")
    lines += [
        "",
        "### Lifecycle",
        "",
        "First access on a fresh thread is timed on that thread (the raw row is the cost of reading the clock); "
        "the other rows per thread (start, K first accesses, exit and release of the K values), per variable, or "
        "per key. Allocations per operation of the thread rows include the thread's own start (3 to 4).",
        "",
        "| case | p50 ns | p90 ns | p99 ns | allocs/op |",
        "|---|---:|---:|---:|---:|",
    ]
    for r in life:
        allocs = "–" if r["allocs_per_op"] is None else f"{r['allocs_per_op']:.1f}"
        lines.append(f"| {r['name'][2:]} | {fmt(r['p50'])} | {fmt(r['p90'])} | {fmt(r['p99'])} | {allocs} |")
        for key, value in r.get("notes", {}).items():
            lines.append(f"| ↳ {key}: **{value:.0f}**, then `EAGAIN` | | | | |")
    lines += [
        "",
        "`ThreadLocal` has no such limit: the 1,100-live-variables row runs with 1,100 variables alive.",
        "",
        "### The `ThreadLocal<Int>` increment loop",
        "",
        "`counter.value &+= 1` (`objdump -d`; the slot handle is loaded once before the loop, the slow path "
        "is out of line):",
        "",
        "```text",
    ]
    m = re.search(r"== threadLocalIntIncrementWrapping \(.*?\n(.*?)\n\n", disassembly, re.S)
    lines.append(m.group(1) if m else "(see Benchmarks/Results/disassembly.txt)")
    lines += ["```", "", "`counter.value += 1`:", "", "```text"]
    m = re.search(r"== threadLocalIntIncrement \(.*?\n(.*?)\n\n", disassembly, re.S)
    lines.append(m.group(1) if m else "(see Benchmarks/Results/disassembly.txt)")
    lines += ["```"]

    text = "\n".join(lines)
    path = os.path.join(here, "README.md")
    with open(path) as f:
        readme = f.read()
    begin, end = "<!-- BEGIN benchmarks -->", "<!-- END benchmarks -->"
    a, b = readme.index(begin) + len(begin), readme.index(end)
    readme = readme[:a] + "\n" + text + "\n" + readme[b:]
    with open(path, "w") as f:
        f.write(readme)
    print("updated the comparison section of Benchmarks/README.md")


if __name__ == "__main__":
    main()
