#!/usr/bin/env python3
"""Prints the hot loop of HotLoops functions from `objdump -d`, and checks it.

  disassembly.py BINARY FUNCTION... > disassembly.txt

For each function: the whole function's disassembly is searched for its
innermost counted loop (the first backward conditional branch), the loop is
printed, and any `call` inside it is reported (none means: no allocation,
retain/release, lock or libc call on the hot path; the slow paths are
branched to outside the loop).
"""
import re
import subprocess
import sys


def functions(binary):
    out = subprocess.run(["objdump", "-d", "--no-show-raw-insn", binary], capture_output=True, text=True, check=True)
    current, body = None, []
    for line in out.stdout.splitlines():
        m = re.match(r"^[0-9a-f]+ <(.*)>:$", line)
        if m:
            if current:
                yield current, body
            current, body = m.group(1), []
        elif current and line.strip():
            body.append(line)
    if current:
        yield current, body


def parse(line):
    m = re.match(r"^\s*([0-9a-f]+):\s+(\S+)\s*(.*)$", line)
    return (int(m.group(1), 16), m.group(2), m.group(3)) if m else None


def main():
    binary, wanted = sys.argv[1], sys.argv[2:]
    found = {}
    for name, body in functions(binary):
        for w in wanted:
            # mangled: $s8HotLoops<len><name>y...F
            if re.match(rf"^\$s8HotLoops{len(w)}{re.escape(w)}y.*F$", name):
                found[w] = (name, body)
    by_name = {}
    for name, body in functions(binary):
        by_name[name] = body
    status = 0
    for w in wanted:
        if w not in found:
            print(f"== {w}: not found")
            status = 1
            continue
        name, body = found[w]
        # A case whose loop compiles to the same code as another's is a short
        # thunk that jumps to the other function or to a shared (merged,
        # "Tm") body: follow such jumps.
        for _ in range(4):
            target = None
            if len(body) < 12:
                for line in body:
                    m = re.search(r"\sjmp\s+[0-9a-f]+ <(\$s8HotLoops[^>+]*)>", line)
                    if m and m.group(1) in by_name:
                        target = m.group(1)
            if not target:
                break
            print(f"== {w}: {name} jumps to {target}")
            name, body = target, by_name[target]
        insns = [p for p in map(parse, body) if p]
        loop = None
        for address, op, args in insns:
            if op.startswith("j") and op != "jmp":
                m = re.match(r"([0-9a-f]+)", args)
                if m and int(m.group(1), 16) < address:
                    loop = (int(m.group(1), 16), address)
                    break
        print(f"== {w} ({name})")
        if not loop:
            print("   no backward branch found")
            continue
        inside = [(a, o, r) for a, o, r in insns if loop[0] <= a <= loop[1]]
        for a, o, r in inside:
            r = re.sub(r"<\$s8HotLoops[^>]*\+(0x[0-9a-f]+)>", r"<+\1>", r)
            print(f"   {a:x}: {o:<6} {r}")
        calls = [r for _, o, r in inside if o.startswith("call")]
        print(f"   {len(inside)} instructions per iteration; calls in the loop: {', '.join(calls) if calls else 'none'}")
        print()
    return status


if __name__ == "__main__":
    sys.exit(main())
