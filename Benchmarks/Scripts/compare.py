#!/usr/bin/env python3
"""Prints the side-by-side comparison from package-benchmark's JMH export.

  compare.py RUN.jmh.json --json OUT.json

Every benchmark of this package records "operations per sample" (see
BenchmarkSupport), so time per operation = wall time of a sample / operations;
benchmarks that time their operations from inside record "inner time per
sample (ns)", used instead. Percentiles are over samples (p50, p90, p99), so
noise is shown, not hidden. Ratios are p50 / p50 of the floor measured in the
same run: raw __thread read for reads, raw __thread increment for
read-modify-writes; for the thread-scaling rows, the same counter on 1 thread.
"""
import argparse
import json
import os
import re
import subprocess
import sys

RAW_READ = "1 raw __thread read"
RAW_INCREMENT = "1 raw __thread increment (C, wrapping)"
SCALING_KINDS = ["ThreadLocal<Int> per-thread counter", "Atomic<Int>.wrappingAdd", "Mutex<Int> increment"]


# Names with underscores of their own; JMH replaces spaces with underscores,
# so these are looked up, and other names get their spaces back.
NAMES_WITH_UNDERSCORES = [
    "2 ctl_get_i64",
    "2 ctl_set_i64(ctl_get_i64 &+ 1)",
    "2 ctl_value_pointer &+= 1",
    "L pthread_key_create+delete",
    "L pthread_key_create until it fails",
]
KEYS_CREATED_ROW = "L pthread_key_create until it fails"


def original_name(jmh_name):
    name = jmh_name.split(".", 3)[3] if jmh_name.startswith("package.benchmark.") else jmh_name
    for known in NAMES_WITH_UNDERSCORES:
        if known.replace(" ", "_") == name:
            return known
    # A run of k underscores was a space and k-1 underscores ("raw __thread").
    return re.sub(r"_+", lambda m: " " + "_" * (len(m.group()) - 1), name)


def load(path):
    with open(path) as f:
        elements = json.load(f)
    rows = {}
    for e in elements:
        target = e["benchmark"].split(".")[2]
        name = original_name(e["benchmark"])
        metrics = e["secondaryMetrics"]
        ops = metrics["operations per sample"]["scorePercentiles"]["50.0"]
        # package-benchmark 1.38.1's JMH export shares one secondary-metrics
        # dictionary across benchmarks, so a custom metric of an earlier
        # benchmark can appear on later ones: use custom metrics only where
        # this package records them.
        if name.startswith("L first access") and "inner time per sample (ns)" in metrics:
            # custom metric: raw nanoseconds per sample
            p = metrics["inner time per sample (ns)"]["scorePercentiles"]
            scale = 1.0
            timed = "inside"
        else:
            # wall clock: exported in microseconds per sample
            p = metrics["Time (wall clock)"]["scorePercentiles"]
            scale = 1000.0
            timed = "wall"
        malloc = metrics.get("Malloc (total)", {}).get("scorePercentiles", {}).get("50.0")
        extra = {}
        for key, value in metrics.items():
            if name == KEYS_CREATED_ROW and key.startswith("pthread keys created"):
                extra[key] = value["scorePercentiles"]["50.0"]
        rows[name] = {
            "name": name,
            "target": target,
            "p50": p["50.0"] * scale / ops,
            "p90": p["90.0"] * scale / ops,
            "p99": p["99.0"] * scale / ops,
            "allocs_per_op": None if malloc is None else malloc / ops,
            "operations_per_sample": ops,
            "samples": e["measurementIterations"],
            "timed": timed,
            **({"notes": extra} if extra else {}),
        }
    return rows


def section_of(name):
    head = name.split(" ", 1)[0]
    return head


def scaling_key(name):
    body = name[2:]
    m = re.match(r"(.*), (\d+) threads$", body)
    kind, threads = m.group(1), int(m.group(2))
    return (SCALING_KINDS.index(kind) if kind in SCALING_KINDS else 99, threads)


def fmt(x):
    if x is None:
        return "-"
    if x >= 100:
        return f"{x:,.0f}"
    if x >= 10:
        return f"{x:.1f}"
    return f"{x:.2f}"


def build(rows):
    """Sections of (label, row, ratio) in print order."""
    hot = sorted((r for r in rows.values() if section_of(r["name"]).isdigit()), key=lambda r: r["name"][0])
    order = {n: i for i, n in enumerate(HOT_ORDER)}
    hot.sort(key=lambda r: (int(r["name"][0]), order.get(r["name"], 999), r["name"]))
    for r in hot:
        floor = rows.get(RAW_READ if "read" in r["name"] else RAW_INCREMENT)
        r["ratio"] = r["p50"] / floor["p50"] if floor else None
        r["floor"] = floor["name"] if floor else None
    scaling = sorted((r for r in rows.values() if r["name"].startswith("S ")), key=lambda r: scaling_key(r["name"]))
    for r in scaling:
        kind, _ = scaling_key(r["name"])
        one = next((s for s in scaling if scaling_key(s["name"]) == (kind, 1)), None)
        r["ratio"] = r["p50"] / one["p50"] if one else None
    life = sorted((r for r in rows.values() if r["name"].startswith("L ")), key=lambda r: life_key(r["name"]))
    for r in life:
        r["ratio"] = None
    return [
        ("Per access, one thread (ratio = p50 / raw __thread p50, read or increment)", hot),
        ("Across threads: N increments of one counter split over T threads (ratio = vs 1 thread)", scaling),
        ("Lifecycle (one operation = one thread, one variable or one key)", life),
    ]


# The declared order of the hot rows (compare.py prints in this order).
HOT_ORDER = [
    "1 raw __thread read",
    "1 raw __thread increment (C, wrapping)",
    "1 raw __thread increment (Swift +, checked)",
    "2 ctl_get_i64",
    "2 ctl_set_i64(ctl_get_i64 &+ 1)",
    "2 ctl_value_pointer &+= 1",
    "3 ThreadLocal<Int> read",
    "3 ThreadLocal<Int> value += 1",
    "3 ThreadLocal<Int> value &+= 1",
    "3 ThreadLocal<Int> withValue &+= 1",
    "3 ThreadLocal<Int> read, slot beyond inline lanes",
    "3 ThreadLocal<Class> read",
    "3 ThreadLocal<Class> value.count &+= 1",
    "3 ThreadLocal<Struct+String> read",
    "3 ThreadLocal<Struct+String> value.count &+= 1",
    "3 ThreadLocal<Struct+String> withValue",
]


def life_key(name):
    m = re.search(r"K=(\d+)", name)
    k = int(m.group(1)) if m else 0
    if "first access" in name:
        group = 0
    elif "thread start+exit" in name:
        group = 1 if "ThreadLocal" in name else 2 if "pthread" in name else 0.5
    else:
        group = 3
    return (group, k, name)


def render(sections):
    lines = []
    width = max(len(r["name"]) for _, rs in sections for r in rs)
    header = f"{'case':<{width}} {'p50 ns/op':>10} {'p90':>10} {'p99':>10} {'ratio':>8} {'allocs/op':>9} {'samples':>7}"
    for title, rs in sections:
        if not rs:
            continue
        lines += ["", title, header, "-" * len(header)]
        for r in rs:
            ratio = "-" if r["ratio"] is None else f"{r['ratio']:.2f}x"
            allocs = "-" if r["allocs_per_op"] is None else f"{r['allocs_per_op']:.2f}"
            lines.append(
                f"{r['name']:<{width}} {fmt(r['p50']):>10} {fmt(r['p90']):>10} {fmt(r['p99']):>10} {ratio:>8} {allocs:>9} {r['samples']:>7}"
            )
            for key, value in r.get("notes", {}).items():
                lines.append(f"{'':<4}note: {key}: {value:.0f}")
    return "\n".join(lines)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("jmh")
    p.add_argument("--json")
    p.add_argument("--load", help="the load average (1, 5, 15 minutes) right after the run")
    p.add_argument("--log", help="the benchmark run's output, to report benchmarks the export dropped")
    args = p.parse_args()
    rows = load(args.jmh)
    sections = build(rows)
    text = render(sections)
    dropped = []
    if args.log:
        with open(args.log, errors="replace") as f:
            dropped = re.findall(r"Throughput metric must be present for JMH export \[(.*)\]", f.read())
    if dropped:
        text += "\n\nnot in the table (a sample took over a second, so package-benchmark exported nothing): " + "; ".join(
            dropped
        )
    if args.load:
        text += f"\n\nload average (1, 5, 15 min) right after the run, on {os.cpu_count()} cores: {args.load}"
    print(text)
    if args.json:
        swift = subprocess.run(["swift", "--version"], capture_output=True, text=True).stdout.splitlines()
        cpu = ""
        try:
            with open("/proc/cpuinfo") as f:
                cpu = next((l.split(":", 1)[1].strip() for l in f if l.startswith("model name")), "")
        except OSError:
            pass
        result = {
            "swift": swift[0] if swift else "",
            "cpu": cpu,
            "nproc": os.cpu_count(),
            "load_average": args.load,
            "sections": [{"title": t, "rows": rs} for t, rs in sections],
            "table": text,
            "dropped": dropped,
        }
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)
            f.write("\n")


if __name__ == "__main__":
    sys.exit(main())
