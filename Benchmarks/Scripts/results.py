#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Tables, checks and the chart of Benchmarks/Results.

  results.py table RUN.jmh.json --json OUT [--load L] [--log RUN.log]      compare.sh (benchmarks)
  results.py callgrind CASES.tsv N DIR_N DIR_2N OUT_DIR                      Scripts/instructions.sh
  results.py disassembly BINARY FUNCTION...                                  Scripts/instructions.sh
  results.py check BASELINE.json FRESH.json                                  instructions.sh --check
  results.py chart | readmes                                                 compare.sh --save
  results.py readmes --check                                                 .ci/steps/57-figures.sh

Wall time comes from package-benchmark's JMH export (the one format with every
metric's percentiles of every benchmark in one file); instructions per
operation from callgrind. Every ThreadLocal case is compared with the best
(tightest) alternative, chosen by instruction count, and with the natural
spelling of the hand-made pthread key (`takeUnretainedValue()`).
"""
import json
import os
import platform
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(HERE, "Results")
RAW_READ, RAW_INC = "1 raw __thread read", "1 raw __thread increment (C, wrapping)"
RAW_CHECKED = "1 raw __thread increment (Swift +, checked)"
# (ThreadLocal case, natural spelling of the alternative, candidates for the best alternative).
NATURAL_READ = "4 pthread key + Unmanaged read, unretained"
NATURAL_INC = "4 pthread key + Unmanaged count &+= 1, unretained"
COMPARISONS = [
    ("3 ThreadLocal<Int> read", NATURAL_READ,
     ["4 pthread key + Int pointer read", "4 pthread key + Unmanaged read, guaranteed ref", NATURAL_READ,
      "5 NIO ThreadSpecificVariable read", "7 TaskLocal read in withValue", "8 Mutex<[tid: Int]> read"]),
    ("3 ThreadLocal<Int> value &+= 1", NATURAL_INC,
     ["4 pthread key + Int pointer &+= 1", "4 pthread key + Unmanaged count &+= 1, guaranteed ref", NATURAL_INC,
      "5 NIO ThreadSpecificVariable count &+= 1", "8 Mutex<[tid: Int]> increment"]),
    ("3 ThreadLocal<Class> read", NATURAL_READ,
     ["4 pthread key + Unmanaged read, guaranteed ref", NATURAL_READ, "5 NIO ThreadSpecificVariable read"]),
    ("3 ThreadLocal<Class> value.count &+= 1", NATURAL_INC,
     ["4 pthread key + Unmanaged count &+= 1, guaranteed ref", NATURAL_INC,
      "5 NIO ThreadSpecificVariable count &+= 1"]),
]
# Rows whose instruction counts CI holds to the baseline: the floor, the C
# slot API and ThreadLocal (this project's code); the others are reported.
CHECKED_ROWS = {1, 2, 3}
# The P rows (per-thread time on 1, 2 and 4 threads): each case with its
# pthread-key counterpart, grouped; a counterpart follows its group (None).
STORE_KEY, READ_KEY = "4 pthread key set + get + clear", "4 pthread key + Int pointer read"
INC_KEY, CLASS_KEY = "4 pthread key + Int pointer &+= 1", "4 pthread key + Unmanaged read, guaranteed ref"
STORE_AFTER_TAKE = ["2 ctl_set_i64 + ctl_take", "3 ThreadLocal<Int> value = x; reset()",
                    "3 ThreadLocal<Int> take(); value = v"]
PER_THREAD = [(c, STORE_KEY) for c in STORE_AFTER_TAKE] + [(STORE_KEY, None)] + [
    ("2 ctl_get_i64", READ_KEY), ("3 ThreadLocal<Int> read", READ_KEY), (READ_KEY, None),
    ("3 ThreadLocal<Int> value &+= 1", INC_KEY), (INC_KEY, None), ("3 ThreadLocal<Class> read", CLASS_KEY),
    (CLASS_KEY, None)]
FIRST_ACCESS = "L first access on a fresh thread: %s"


def fmt(x):
    return "–" if x is None else f"{x:,.0f}" if x >= 100 else f"{x:.1f}" if x >= 10 else f"{x:.2f}"


def markdown(header, rows):
    # Hand-written: six lines, where a table library would be one more dependency.
    number = [all(re.fullmatch(r"[–\d.,×+() -]*", str(r[i])) for r in rows) for i in range(len(header))]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---:" if n else "---" for n in number) + "|"]
    return "\n".join(lines + ["| " + " | ".join(str(c).replace("|", "\\|") for c in r) + " |" for r in rows])


def read_json(path):
    with open(path) as f:
        return json.load(f)


def write_json(path, value):
    with open(path, "w") as f:
        json.dump(value, f, indent=2)
        f.write("\n")


def bench_rows(bench):
    return {r["name"]: r for r in bench["rows"]}


def swift_version():
    lines = subprocess.run(["swift", "--version"], capture_output=True, text=True).stdout.splitlines()
    return lines[0] if lines else ""


def instructions(path=os.path.join(RESULTS, "instructions.json")):
    """{"row label": instructions per operation}, in the declared order."""
    return {f"{c['row']} {c['label']}": c["instructions_per_op"] for c in read_json(path)["cases"]}


def best_alternatives(ins):
    """Per ThreadLocal case: (case, best alternative, natural spelling)."""
    return [(ours, min((c for c in cands if c in ins), key=ins.get), natural) for ours, natural, cands in COMPARISONS]


def targets(ins, p50, calls, allocs):
    """The targets: (met or missed, description, detail), of those the run measured."""
    out = []
    for name, floor in [("3 ThreadLocal<Int> read", RAW_READ), ("3 ThreadLocal<Int> value &+= 1", RAW_INC),
                        ("3 ThreadLocal<Int> value += 1", RAW_INC)]:
        if name not in p50 or floor not in p50:
            continue
        d, ratio = ins[name] - ins[floor], p50[name] / p50[floor]
        detail = f"{ins[name]:g} vs {ins[floor]:g} instructions/op (+{d:g}); {ratio:.2f}× the time " \
                 f"({fmt(p50[name])} vs {fmt(p50[floor])} ns p50); calls in the loop: {calls(name)}; " \
                 f"allocations/op: {allocs[name]:.0f}"
        if "+= 1" in name and "&" not in name:
            detail += f"; Swift's `+=` is overflow-checked: +{ins[name] - ins[RAW_CHECKED]:g} over the same checked " \
                      "increment on raw `__thread`"
        out.append((d <= 5 and ratio <= 1.2 and calls(name) == "none" and not allocs[name],
                    f"`{name[2:]}` within 5 instructions/op and 1.2× the time of raw `__thread`, no calls", detail))
    cls, tight, natural = best_alternatives(ins)[2]
    r, nio = ins[cls] / ins[tight], "5 NIO ThreadSpecificVariable read"
    out.append((r <= 0.4, "`ThreadLocal<Class>` read at most 0.4× the instructions of the best pthread-key read",
                f"{r:.2f}× ({ins[cls]:g} vs {ins[tight]:g}, `{tight[2:]}`; the natural `{natural[2:]}`: "
                f"{ins[natural]:g}, {ins[cls] / ins[natural]:.2f}×)"))
    if cls in p50 and nio in p50:
        out.append((p50[nio] / p50[cls] >= 10,
                    "`ThreadLocal<Class>` read at least 10× faster than swift-nio's `ThreadSpecificVariable`",
                    f"{p50[nio] / p50[cls]:.1f}× ({fmt(p50[cls])} vs {fmt(p50[nio])} ns p50; "
                    f"{ins[cls]:g} vs {ins[nio]:g} instructions/op)"))
    tl, at = (f"S {k}, %d threads" for k in ["ThreadLocal<Int> per-thread counter", "Atomic<Int>.wrappingAdd"])
    if tl % 2 in p50 and at % 2 in p50:
        gain, atomic = p50[tl % 1] / p50[tl % 2], p50[at % 1] / p50[at % 2]
        out.append((gain >= 1.6 and atomic <= 1.05,
                    "Per-thread counters scale with threads where a contended `Atomic<Int>` (the best shared "
                    "counter) does not",
                    f"ns per increment, 1 → 2 threads: ThreadLocal {fmt(p50[tl % 1])} → {fmt(p50[tl % 2])} "
                    f"({gain:.2f}× the throughput; 2× is the most 2 cores allow), Atomic {fmt(p50[at % 1])} → "
                    f"{fmt(p50[at % 2])} ({atomic:.2f}×)"))
    per = {(c, t): p50.get(f"P {c[2:]}, {t} threads") for c in STORE_AFTER_TAKE + [STORE_KEY] for t in (1, 2, 4)}
    if all(per.values()):
        flat = {c: per[c, 2] / per[c, 1] for c in STORE_AFTER_TAKE}
        key = {c: [per[c, t] / per[STORE_KEY, t] for t in (1, 2, 4)] for c in STORE_AFTER_TAKE}
        out.append((max(flat.values()) <= 1.3 and max(max(r) for r in key.values()) <= 1.0,
                    "A store after take (the C pair and both Swift patterns) is flat per thread from 1 to 2 "
                    "threads (at most 1.3×) and at or below the pthread-key loop at 1, 2 and 4 threads",
                    "2 threads over 1: " + ", ".join(f"`{c[2:]}` {r:.2f}×" for c, r in flat.items()) +
                    f" (the pthread key: {per[STORE_KEY, 2] / per[STORE_KEY, 1]:.2f}×); over the pthread-key "
                    "loop at 1, 2, 4 threads: " +
                    ", ".join(f"`{c[2:]}` " + " / ".join(f"{x:.2f}×" for x in r) for c, r in key.items())))
    tl, box = FIRST_ACCESS % "ThreadLocal<Int>", FIRST_ACCESS % "pthread key + Unmanaged box"
    if tl in p50 and box in p50:
        out.append((p50[tl] <= p50[box], "A first access on a fresh thread costs at most a pthread key plus a box",
                    f"`ThreadLocal<Int>` {fmt(p50[tl])} vs {fmt(p50[box])} ns p50 ({p50[tl] / p50[box]:.2f}×)"))
    return out


def comparison_table(ins, p50=None):
    header = ["ThreadLocal case", "instr/op", "best alternative", "instr/op", "× best"]
    header += ["natural spelling", "instr/op", "× natural"] + (["× best, time (p50)"] if p50 else [])
    rows = []
    for ours, best, natural in best_alternatives(ins):
        row = [ours[2:], f"{ins[ours]:g}", best[2:], f"{ins[best]:g}", f"{ins[ours] / ins[best]:.2f}",
               natural[2:], f"{ins[natural]:g}", f"{ins[ours] / ins[natural]:.2f}"]
        rows.append(row + ([f"{p50[ours] / p50[best]:.2f}" if ours in p50 and best in p50 else "–"] if p50 else []))
    return markdown(header, rows)


# MARK: - compare.sh: wall time per operation from the JMH export


def original_name(jmh_name, known):
    # JMH turns spaces into underscores: names that have their own are looked
    # up; elsewhere a run of k underscores was a space and k-1 underscores.
    name = jmh_name.split(".", 3)[3]
    return known.get(name) or re.sub(r"_+", lambda m: " " + "_" * (len(m.group()) - 1), name)


def load_jmh(path):
    ins = list(instructions())
    names = ins + [f"P {c[2:]}, {t} threads" for c in ins for t in (1, 2, 4)]
    known = {n.replace(" ", "_"): n for n in names + ["L pthread_key_create+delete",
                                                      "L pthread_key_create until it fails"]}
    rows = {}
    for e in read_json(path):
        name, metrics = original_name(e["benchmark"], known), e["secondaryMetrics"]
        ops = metrics["operations per sample"]["scorePercentiles"]["50.0"]
        # package-benchmark 1.38.1's JMH export shares one secondary-metrics
        # dictionary across benchmarks, so a custom metric can leak onto later
        # benchmarks: use custom metrics only where this package records them.
        inside = name.startswith(("L first access", "P ")) and "inner time per sample (ns)" in metrics
        p = metrics["inner time per sample (ns)" if inside else "Time (wall clock)"]["scorePercentiles"]
        scale = 1.0 if inside else 1000.0  # the wall clock is exported in µs per sample
        malloc = metrics.get("Malloc (total)", {}).get("scorePercentiles", {}).get("50.0")
        row = {"name": name, "target": e["benchmark"].split(".")[2], "samples": e["measurementIterations"],
               "allocs_per_op": None if malloc is None else malloc / ops, "operations_per_sample": ops}
        row.update({k: p[q] * scale / ops for k, q in [("p50", "50.0"), ("p90", "90.0"), ("p99", "99.0")]})
        if name == "L pthread_key_create until it fails":
            row["keys_created"] = metrics["pthread keys created before failure"]["scorePercentiles"]["50.0"]
        rows[name] = row
    return rows


def sections(rows):
    """(title, rows) for the hot, scaling and lifecycle tables, in the order of
    the instruction counts (the declared order), then by name."""
    order = {n: i for i, n in enumerate(instructions())}

    def key(r):
        count = r"(\d+)(?: live)? threads|K=(\d+)"
        m = re.search(count, r["name"])
        return order.get(r["name"], 999), re.sub(count, "", r["name"]), int(m and max(m.groups("")) or 0)

    hot = sorted((r for r in rows.values() if r["name"][0].isdigit()), key=key)
    for r in hot:
        floor = rows.get(RAW_READ if "read" in r["name"] else RAW_INC)
        r["ratio"] = r["p50"] / floor["p50"] if floor else None
    scaling = sorted((r for r in rows.values() if r["name"].startswith("S ")), key=key)
    for r in scaling:
        one = rows.get(re.sub(r"\d+ threads$", "1 threads", r["name"]))
        r["ratio"] = r["p50"] / one["p50"] if one else None
    life = sorted((r for r in rows.values() if r["name"].startswith("L ")), key=key)
    sums = sorted((r for r in rows.values() if r["name"].startswith("A ")), key=key)
    return [("Per access, one thread", "× raw", hot), ("Across threads", "× 1 thread", scaling),
            ("Lifecycle", "", life), ("Reading an aggregate", "", sums)]


def section_table(ratio_name, rs, ins):
    header = ["case", "p50 ns", "p90 ns", "p99 ns"] + ([ratio_name] if ratio_name else [])
    header += (["instr/op"] if ratio_name == "× raw" else []) + ["allocs/op"]
    out = []
    for r in rs:
        row = [r["name"][2:], fmt(r["p50"]), fmt(r["p90"]), fmt(r["p99"])]
        row += [fmt(r.get("ratio"))] if ratio_name else []
        row += [f"{ins[r['name']]:g}" if r["name"] in ins else "–"] if ratio_name == "× raw" else []
        out.append(row + [fmt(r["allocs_per_op"])])
        if r.get("keys_created"):
            out.append([f"↳ pthread keys created before failure: **{r['keys_created']:.0f}**, then `EAGAIN`"] +
                       [""] * (len(header) - 1))
    return markdown(header, out)


def per_thread_table(p50):
    """The P rows: each case on 1, 2 and 4 threads, with the ratio to its pthread-key loop."""
    def cell(case, key, t):
        ns, base = p50.get(f"P {case[2:]}, {t} threads"), key and p50.get(f"P {key[2:]}, {t} threads")
        return fmt(ns) + (f" ({ns / base:.2f}×)" if ns and base else "")

    def growth(case):
        one, two = (p50.get(f"P {case[2:]}, {t} threads") for t in (1, 2))
        return f"{two / one:.2f}" if one and two else "–"

    rows = [[case[2:] if key else f"*{case[2:]}*"] + [cell(case, key, t) for t in (1, 2, 4)] + [growth(case)]
            for case, key in PER_THREAD if f"P {case[2:]}, 1 threads" in p50]
    return rows and markdown(["case", "1 thread", "2 threads", "4 threads", "2 ÷ 1 thread"], rows)


def table(args):
    """The fresh run's tables (as in Benchmarks/README.md), and its rows written to --json."""
    opts = dict(zip(args[1::2], args[2::2]))
    dropped = []
    if "--log" in opts:
        with open(opts["--log"], errors="replace") as f:
            dropped = re.findall(r"Throughput metric must be present for JMH export \[(.*)\]", f.read())
    cpu = ""
    if os.path.exists("/proc/cpuinfo"):
        with open("/proc/cpuinfo") as f:
            cpu = next((l.split(":", 1)[1].strip() for l in f if l.startswith("model name")), "")
    bench = {"swift": swift_version(), "cpu": cpu, "nproc": os.cpu_count(), "load_average": opts.get("--load"),
             "dropped": dropped, "rows": list(load_jmh(args[0]).values())}
    write_json(opts["--json"], bench)
    print(summary_text(bench, store_after_take=None))


# MARK: - instructions.sh: callgrind counts, hot-loop disassembly, the check


def callgrind(cases_tsv, n, dir_n, dir_2n, out):
    def dumps(directory):
        # cg.1 is start-up and warm-up, then one dump per case (--dump-before).
        totals = {}
        for name in os.listdir(directory):
            if re.fullmatch(r"cg\.\d+", name):
                with open(os.path.join(directory, name)) as f:
                    totals[int(name[3:])] = next(int(l.split()[1]) for l in f if l.startswith(("totals:", "summary:")))
        return [totals[k] for k in sorted(totals)[1:]]

    with open(cases_tsv) as f:
        cases = [dict(zip(["row", "label", "function"], l.rstrip("\n").split("\t"))) for l in f]
    first, second, n = dumps(dir_n), dumps(dir_2n), int(n)
    if not len(first) == len(second) == len(cases):
        sys.exit(f"expected {len(cases)} case dumps, got {len(first)} and {len(second)}")
    for c, a, b in zip(cases, first, second):
        c["row"], c["instructions_per_op"] = int(c["row"]), round((b - a) / n, 2)
    results = {"tool": "valgrind --tool=callgrind, (count(2N) - count(N)) / N", "n": n,
               "machine": platform.machine(), "swift": swift_version(), "cases": cases}
    write_json(os.path.join(out, "instructions.json"), results)
    ins = instructions(os.path.join(out, "instructions.json"))
    raw = ins[RAW_INC]
    print(f"# Instructions per operation (callgrind, N={n}; {results['swift']}, {results['machine']})\n\n" +
          markdown(["row", "case", "instr/op", "× raw increment"],
                   [[k[0], k[2:], f"{v:g}", f"{v / raw:.1f}"] for k, v in ins.items()]) +
          "\n\n## ThreadLocal against the best alternative\n\n" + comparison_table(ins))


def disassembly(binary, *wanted):
    """Prints each function's innermost counted loop (up to its first backward
    conditional branch) and the calls inside it. Hand-written: objdump's text
    is the only input, and no library finds loops in it."""
    dump = subprocess.run(["objdump", "-d", "--no-show-raw-insn", binary], capture_output=True, text=True, check=True)
    bodies, current = {}, None
    for line in dump.stdout.splitlines():
        m = re.match(r"^[0-9a-f]+ <(.*)>:$", line)
        if m:
            current = bodies.setdefault(m.group(1), [])
        elif current is not None and (p := re.match(r"^\s*([0-9a-f]+):\s+(\S+)\s*(.*)$", line)):
            current.append((int(p.group(1), 16), p.group(2), p.group(3)))
    status = 0
    for w in wanted:
        name = next((n for n in bodies if re.match(rf"^\$s8HotLoops{len(w)}{re.escape(w)}y.*F$", n)), None)
        if not name:
            print(f"== {w}: not found")
            status = 1
            continue
        # A case that compiles to the same code as another is a thunk jumping
        # to it or to a shared (merged) body: follow the jump.
        for _ in range(4):
            jumps = [re.search(r"<(\$s8HotLoops[^>+]*)>", a) for _, o, a in bodies[name] if o == "jmp"]
            target = next((m.group(1) for m in jumps if m and m.group(1) in bodies), None)
            if len(bodies[name]) >= 12 or not target:
                break
            print(f"== {w}: {name} jumps to {target}")
            name = target
        body = bodies[name]
        loop = next(((int(m.group(1), 16), addr) for addr, o, a in body if o.startswith("j") and o != "jmp"
                     and (m := re.match(r"([0-9a-f]+)", a)) and int(m.group(1), 16) < addr), None)
        print(f"== {w} ({name})")
        if not loop:
            print("   no backward branch found")
            continue
        inside = [(a, o, r) for a, o, r in body if loop[0] <= a <= loop[1]]
        for a, o, r in inside:
            print(f"   {a:x}: {o:<6} " + re.sub(r"<\$s8HotLoops[^>]*\+(0x[0-9a-f]+)>", r"<+\1>", r))
        calls = [r for _, o, r in inside if o.startswith("call")]
        print(f"   {len(inside)} instructions per iteration; calls in the loop: {', '.join(calls) or 'none'}\n")
    return status


def check(baseline_path, fresh_path):
    """Fails if a case of CHECKED_ROWS got slower than the baseline by more
    than max(1 instruction, 10%)."""
    base, fresh = (read_json(p)["cases"] for p in (baseline_path, fresh_path))
    now = {c["function"]: c["instructions_per_op"] for c in fresh}
    failures = []
    for c in (c for c in base if c["row"] in CHECKED_ROWS):
        old, new = c["instructions_per_op"], now.get(c["function"])
        limit = old + max(1.0, old * 0.10)
        ok = new is not None and new <= limit
        shown = "missing" if new is None else f"{new:g}"
        print(f"{'ok' if ok else 'REGRESSION':>10}  {c['label']:<48} "
              f"baseline {old:>7g}  now {shown:>7}  limit {limit:g}")
        if not ok:
            failures.append(f"{c['label']}: {new} instructions/op, baseline {old:g}, limit {limit:g}")
    if failures:
        sys.exit("\ninstruction counts regressed:\n" + "\n".join(failures))
    print("instruction counts within the baseline")


# MARK: - compare.sh --save: the chart and the summary


def chart():
    try:
        import matplotlib
    except ImportError:
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "matplotlib"], check=True)
        import matplotlib
    matplotlib.use("svg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"svg.fonttype": "none", "svg.hashsalt": "swift-thread-local", "font.size": 9})
    bench, ins = read_json(os.path.join(RESULTS, "benchmarks.json")), instructions()
    hot, scaling, _, _ = (rs for _, _, rs in sections(bench_rows(bench)))
    kinds = list(dict.fromkeys(r["name"][2:].rsplit(", ", 1)[0] for r in scaling))
    threads = sorted({int(r["name"].rsplit(" ", 2)[1]) for r in scaling})
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 0.22 * (len(hot) + 2 * len(kinds)) + 2),
                                      gridspec_kw={"height_ratios": [len(hot), 2 * len(kinds)]})
    y = range(len(hot))[::-1]
    top.barh(y, [r["p50"] for r in hot], color=[plt.get_cmap("Dark2")(int(r["name"][0]) - 1) for r in hot], log=True)
    top.hlines(y, [r["p90"] for r in hot], [r["p99"] for r in hot], color="black", linewidth=1)
    top.set_yticks(y, [f"{r['name'][2:]}   ({ins[r['name']]:g} instr)" if r["name"] in ins else r["name"][2:]
                       for r in hot])
    top.set_xlabel("ns per access, log scale (bar: p50, line: p90 to p99); instructions/op from callgrind")
    top.set_title(f"Per-thread state in Swift, one thread\n{bench['swift']}; {bench['cpu']}, {bench['nproc']} cores",
                  fontsize=10)
    height = 0.8 / len(threads)
    for i, t in enumerate(threads):
        p = {r["name"][2:].rsplit(", ", 1)[0]: r["p50"] for r in scaling if r["name"].endswith(f" {t} threads")}
        bottom.barh([len(kinds) - 1 - k + 0.4 - (i + 0.5) * height for k in range(len(kinds))],
                    [p.get(k, 0) for k in kinds], height, label=f"{t} threads")
    bottom.set_yticks(range(len(kinds))[::-1], kinds)
    bottom.set_xscale("log")
    bottom.set_xlabel("ns per increment of one counter split over T threads, p50, log scale")
    bottom.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(os.path.join(RESULTS, "chart.svg"), metadata={"Date": None}, bbox_inches="tight")
    print("wrote Benchmarks/Results/chart.svg")


def summary_text(bench=None, store_after_take=os.path.join(RESULTS, "store-after-take.md")):
    """The comparison's tables: of Results (Benchmarks/README.md), or of a
    fresh run (`bench`, without the C table)."""
    fresh, bench, ins = bench, bench or read_json(os.path.join(RESULTS, "benchmarks.json")), instructions()
    with open(os.path.join(RESULTS, "disassembly.txt")) as f:
        asm = f.read()
    rows = bench_rows(bench)
    cases = read_json(os.path.join(RESULTS, "instructions.json"))["cases"]
    function = {f"{c['row']} {c['label']}": c["function"] for c in cases}

    def calls(name):
        m = re.search(rf"== {function[name]} \(.*?calls in the loop: ([^\n]*)", asm, re.S)
        return m.group(1) if m else "?"

    def loop(function):
        m = re.search(rf"== {function} \(.*?\n(.*?)\n\n", asm, re.S)
        return m.group(1) if m else "(see Benchmarks/Results/disassembly.txt)"

    p50 = {n: r["p50"] for n, r in rows.items()}
    allocs = {n: r["allocs_per_op"] or 0 for n, r in rows.items()}
    out = [f"Measured on {bench['nproc']} cores, {bench['cpu']}, {bench['swift']}, release builds; load average "
           f"right after the run: {bench.get('load_average') or 'not recorded'}. " +
           ("Generated by `Benchmarks/Scripts/results.py readmes` from `Benchmarks/Results`." if fresh is None else
            "This run's; instruction counts and loops from `Benchmarks/Results`.")]
    if bench.get("dropped"):
        out += ["", "Not in the tables (a sample took over a second, so package-benchmark exported nothing): " +
                "; ".join(bench["dropped"]) + "."]
    out += ["", "### Targets", ""]
    out += [f"- **{'met' if met else 'missed'}**: {d}: {t}." for met, d, t in targets(ins, p50, calls, allocs)]
    out += ["", "### ThreadLocal against the best alternative", "",
            "The best alternative is the one with the fewest instructions per operation among every other way "
            "measured; the natural spelling is the hand-made pthread key as usually written "
            "(`takeUnretainedValue()`, a retain and release per access).", "", comparison_table(ins, p50)]
    notes = {"Per access, one thread": "Ratio: p50 over the p50 of raw `__thread` (read, or wrapping increment) in "
             "the same run; instructions per operation (loop included) from callgrind. Row 4 shows each pthread-key "
             "access in its tightest spelling (an Int pointer, or `_withUnsafeGuaranteedRef`: no retain/release) "
             "and its natural one (`takeUnretainedValue()`).",
             "Across threads": "N increments of one logical counter split over T new threads, per increment "
             "(thread start and exit included).",
             "Lifecycle": "First access on a fresh thread is timed on that thread; the other rows per thread "
             "(start, K first accesses, exit), per variable, or per key.",
             "Reading an aggregate": "`sum()` while T threads that have a cell are parked, per call."}
    for title, ratio, rs in sections(rows):
        if rs:
            out += ["", f"### {title}", "", notes[title], "", section_table(ratio, rs, ins)]
        if title == "Per access, one thread" and per_thread_table(p50):
            out += ["", "### Per thread, on 1, 2 and 4 threads", "",
                    "The threads start together (a barrier), each runs the same loop and times it: ns per "
                    "operation per thread, and in parentheses over the pthread-key loop (in *italics* below its "
                    "group) at the same thread count. On 2 cores a path that takes no shared lock is flat from 1 "
                    "to 2 threads; with 4 threads each also waits its turn.", "", per_thread_table(p50)]
            if store_after_take and os.path.exists(store_after_take):
                with open(store_after_take) as f:
                    out += ["", "The store after take in C (`Scripts/store_after_take.c`, the same run):", "",
                            f.read().strip()]
    out += ["", "### The `ThreadLocal<Int>` increment loops", "", "`counter.value &+= 1`:", "", "```text",
            loop("threadLocalIntIncrementWrapping"), "```", "", "`counter.value += 1`:", "", "```text",
            loop("threadLocalIntIncrement"), "```"]
    return "\n".join(out) + "\n"


# MARK: - The figures in the READMEs


def headline():
    """The README's headline figures, from the same files as the summary."""
    bench, ins = read_json(os.path.join(RESULTS, "benchmarks.json")), instructions()
    p50 = {n: r["p50"] for n, r in bench_rows(bench).items()}
    machine = read_json(os.path.join(RESULTS, "instructions.json"))["machine"]
    swift = re.sub(r"^Swift version (\S+).*", r"Swift \1", bench["swift"])
    read, inc = "3 ThreadLocal<Int> read", "3 ThreadLocal<Int> value &+= 1"
    if ins[read] == ins[inc] and ins[RAW_READ] == ins[RAW_INC]:
        counts = f"a `ThreadLocal<Int>` read or increment is {ins[read]:g} instructions against {ins[RAW_READ]:g}"
    else:
        counts = (f"a `ThreadLocal<Int>` read is {ins[read]:g} instructions and an increment {ins[inc]:g}, against "
                  f"{ins[RAW_READ]:g} and {ins[RAW_INC]:g}")
    (_, read_best, _), (_, inc_best, _), (cls, cls_best, _), _ = best_alternatives(ins)
    key = f"{ins[read] / ins[read_best]:.2f}×"
    if f"{ins[inc] / ins[inc_best]:.2f}×" != key:
        key += f" (read) and {ins[inc] / ins[inc_best]:.2f}× (increment)"
    nio = "5 NIO ThreadSpecificVariable read"
    counter, atomic = (f"S {k}, %d threads" for k in ["ThreadLocalCounter", "Atomic<Int>.wrappingAdd"])
    return (f"Headline figures from one run (release builds, {swift}, Linux {machine}, {bench['nproc']} cores): "
            f"{counts} for a raw `__thread` access (one load of the thread's block pointer and a tag check more; "
            f"{fmt(p50[read])} vs {fmt(p50[RAW_READ])} ns for a read, {fmt(p50[inc])} vs {fmt(p50[RAW_INC])} ns for "
            f"an increment in a tight loop); it is {key} the instructions of the tightest hand-written pthread key. "
            f"Reading a `ThreadLocal` holding a class is {p50[nio] / p50[cls]:.1f}× faster than swift-nio's "
            f"`ThreadSpecificVariable` and {ins[cls] / ins[cls_best]:.2f}× the instructions of the tightest "
            f"pthread-key read. A `ThreadLocalCounter` gets {p50[counter % 1] / p50[counter % 2]:.2f}× the "
            f"throughput from 1 to 2 threads, where a shared `Atomic<Int>` gets "
            f"{p50[atomic % 1] / p50[atomic % 2]:.2f}×.")


def wrap(text, width=80):
    """Markdown prose wrapped as the READMEs are: at spaces outside code spans."""
    lines, line = [], ""
    for word in re.findall(r"(?:`[^`]*`|[^ `])+", text):
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}" if line else word
    return "\n".join(lines + [line])


# (file, marker, generated text): each file holds the text between
# `<!-- BEGIN marker -->` and `<!-- END marker -->`.
GENERATED = [
    (os.path.join(HERE, "README.md"), "benchmarks", lambda: "## The comparison\n\n" + summary_text().rstrip()),
    (os.path.join(os.path.dirname(HERE), "README.md"), "headline", lambda: wrap(headline())),
]


def readmes(*args):
    """Writes the generated parts of the READMEs; with --check, fails if any
    of them differs from what the Results give."""
    import difflib
    stale = []
    for path, marker, generate in GENERATED:
        with open(path) as f:
            old = f.read()
        begin, end = f"<!-- BEGIN {marker} -->", f"<!-- END {marker} -->"
        if old.count(begin) != 1 or old.count(end) != 1:
            sys.exit(f"error: {path} needs one {begin} and one {end} line")
        head, rest = old.split(begin, 1)
        new = head + begin + "\n" + generate().rstrip("\n") + "\n" + end + rest.split(end, 1)[1]
        name = os.path.relpath(path, os.path.dirname(HERE))
        if new == old:
            continue
        if "--check" in args:
            stale.append(name)
            diff = difflib.unified_diff(old.splitlines(True), new.splitlines(True), name, name + " (generated)")
            sys.stdout.writelines(diff)
        else:
            with open(path, "w") as f:
                f.write(new)
            print(f"wrote {name}")
    if stale:
        sys.exit("error: not generated from Benchmarks/Results: " + ", ".join(stale) +
                 "; run: python3 Benchmarks/Scripts/results.py readmes")
    if "--check" in args:
        print("generated figures: " + ", ".join(os.path.relpath(p, os.path.dirname(HERE)) for p, _, _ in GENERATED)
              + " agree with Benchmarks/Results")


if __name__ == "__main__":
    command, args = sys.argv[1], sys.argv[2:]
    commands = {"table": lambda: table(args), "callgrind": lambda: callgrind(*args),
                "disassembly": lambda: disassembly(*args), "check": lambda: check(*args), "chart": chart,
                "readmes": lambda: readmes(*args)}
    sys.exit(commands[command]())
