#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Writes the DocC page "C API reference" from the C header.

  python3 Scripts/c-api-reference.py [include/CThreadLocals.h] > CAPIReference.md

The header `include/CThreadLocals.h` is the one home of the C contract.
Scripts/build-docs.sh runs this script on every build and adds the page to a
copy of the catalog, so the page is the header's text, never a copy that can
drift, and DocC readers reach it as <doc:CAPIReference>.

What it reads, in the header's order:
- a section: a line `// ----...`, then `// Title`, then `//` lines of prose;
- a declaration: a `///` comment, then the code lines that follow it up to a
  blank line or the next comment at the start of a line (a few prototypes
  under one comment are one entry); `///` comments on members inside braces
  become a list under the entry.
Declarations whose names all start with `ctl__` or `CTL__` (implementation
details) are left out. `CTL__ALWAYS_INLINE` is shown as what it means,
`static inline`, and a code line wider than 76 characters (what DocC shows)
is broken after its opening parenthesis and commas.

It fails if a `ctl_` or `CTL_` name of the header's code is missing from the
page, or if a code line stays wider than 76 characters.
"""
import os
import re
import sys

WIDTH = 76
NAME = re.compile(r"\b(?:ctl|CTL)_[A-Za-z0-9]\w*")
PRIVATE = re.compile(r"^(?:ctl|CTL)__")


def declared_names(code):
    """The names a group of declaration lines declares, in order."""
    names = []
    for line in code:
        line = line.strip()
        for pattern in (
            r"^#define\s+(\w+)",
            r"\(\s*\*\s*(\w+)\s*\)\s*\(",  # a function pointer typedef
            r"(\w+)\s*\([^()]*(?:\([^()]*\)[^()]*)*\)\s*;",  # a prototype
            r"^}\s*(\w+)\s*;",  # the name after a typedef's braces
            r"^((?:ctl|CTL)_\w+)\s*=",  # an enum member
        ):
            m = re.search(pattern, line)
            if m:
                names.append(m.group(1))
                break
    return names


def wrap(line):
    """A prototype wider than WIDTH, one parameter per line."""
    if len(line) <= WIDTH or "(" not in line:
        return [line]
    head, rest = line.split("(", 1)
    indent = " " * (len(line) - len(line.lstrip()) + 4)
    params = [p.strip() for p in rest.rsplit(")", 1)[0].split(",")]
    tail = ")" + rest.rsplit(")", 1)[1]
    out = [head + "("]
    for n, p in enumerate(params):
        out.append(indent + p + ("," if n < len(params) - 1 else tail))
    return out


def member_name(line):
    line = line.strip().rstrip(",;")
    m = re.match(r"^(\w+)\s*=", line)
    if m:
        return m.group(1)
    m = re.search(r"(\w+)\s*(?:\[[^\]]*\])?$", line)
    return m.group(1) if m else line


def entry(doc, code):
    """The Markdown of one documented declaration group, or None."""
    names = declared_names(code)
    public = [n for n in names if not PRIVATE.match(n)]
    if names and not public:
        return None
    shown, members, member_doc = [], [], []
    for line in code:
        stripped = line.strip()
        if stripped.startswith("///"):
            member_doc.append(stripped[3:].strip())
            continue
        if member_doc:
            members.append((member_name(stripped), " ".join(member_doc)))
            member_doc = []
        line = line.replace("CTL__ALWAYS_INLINE ", "static inline ")
        shown += wrap(line.rstrip())
    summary = doc[0] if doc else ""
    if len(public) == 1:
        title = public[0]
    elif len(public) <= 6:
        title = ", ".join(public)
    else:
        title = re.split(r"[,:.]", summary, 1)[0]
    out = [f"### {title}", "", "```c", *shown, "```", "", *doc]
    if members:
        out += [""] + [f"- `{name}`: {text}" for name, text in members]
    return "\n".join(out).rstrip() + "\n"


def comment_text(line, marker):
    text = line.strip()[len(marker):]
    return text[1:] if text.startswith(" ") else text


def render(header):
    with open(header, encoding="utf-8") as f:
        lines = f.read().split("\n")
    out = [
        "# C API reference",
        "",
        "The contract of every function, type and constant of the C module "
        "`CThreadLocals`, from its header.",
        "",
        "## Overview",
        "",
        "This page is the text of `include/CThreadLocals.h`, made from the header "
        "each time the documentation is built: the header is the one home of the "
        "C contract. <doc:TheCAPI> introduces the API and says how to build with "
        "it; <doc:HowItWorks> describes the store behind it. Names that start "
        "with `ctl__` or `CTL__` are implementation details and are not shown.",
        "",
    ]
    i, in_sections = 0, False
    while i < len(lines):
        line = lines[i]
        if line.startswith("// ----"):
            in_sections = True
            title = comment_text(lines[i + 1], "//")
            i += 2
            prose = []
            while i < len(lines) and lines[i].startswith("//") and not lines[i].startswith("///"):
                prose.append(comment_text(lines[i], "//"))
                i += 1
            out += [f"## {title}", ""] + (prose + [""] if prose else [])
            continue
        if line.startswith("///") and in_sections:
            doc = []
            while i < len(lines) and lines[i].startswith("///"):
                doc.append(comment_text(lines[i], "///"))
                i += 1
            code = []
            while i < len(lines) and lines[i].strip() and not lines[i].startswith("//"):
                code.append(lines[i])
                i += 1
            text = entry(doc, code)
            if text:
                out += [text]
            continue
        i += 1
    return "\n".join(out).rstrip() + "\n"


def check(header, page):
    errors = []
    code = []
    with open(header, encoding="utf-8") as f:
        for line in f:
            if not line.lstrip().startswith("//"):
                code.append(line.split("//")[0])
    for name in sorted(set(NAME.findall("".join(code)))):
        if not PRIVATE.match(name) and name not in page:
            errors.append(f"{header}: error: {name} is not on the generated C API reference page")
    fence = False
    for number, line in enumerate(page.split("\n"), 1):
        if line.startswith("```"):
            fence = not fence
        elif fence and len(line) > WIDTH:
            errors.append(f"CAPIReference.md:{number}: error: a code line of {len(line)} characters")
    return errors


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    header = sys.argv[1] if len(sys.argv) > 1 else os.path.join(root, "include/CThreadLocals.h")
    page = render(header)
    errors = check(header, page)
    for e in errors:
        print(e, file=sys.stderr)
    if errors:
        sys.exit(1)
    sys.stdout.write(page)


if __name__ == "__main__":
    main()
