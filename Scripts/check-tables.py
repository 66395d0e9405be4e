#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Checks that every Markdown table of the docs renders as one table.

  python3 Scripts/check-tables.py [--archive PATH.doccarchive] [FILE.md ...]

Without FILE arguments it checks README.md, CONTRIBUTING.md,
Benchmarks/README.md and every article of Sources/ThreadLocals/ThreadLocals.docc.

1. In every file, each run of table lines (lines that start with `|`, outside
   code blocks) starts with a header row and a delimiter row (`|---|`), as
   GitHub and DocC need to render it as a table. A blank line inside a table
   ends it there, and the rows after it show as a paragraph of pipes: that is
   reported with the line of the stray rows.
2. With --archive (the output of Scripts/build-docs.sh), each DocC article's
   rendered page has as many table rows as its source has.
"""
import argparse
import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import doc_pages  # noqa: E402

ROOT = doc_pages.ROOT
DOCC = doc_pages.DOCC
FENCE = re.compile(r"^\s*(`{3,}|~{3,})")
DELIMITER = re.compile(r"^\s*\|?\s*:?-+:?\s*(\|\s*:?-+:?\s*)*\|?\s*$")


def tables(path):
    """(first line number, rows without the delimiter row, has a header) of each table-like run."""
    runs, run, fence = [], None, None
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    for number, line in enumerate(lines, 1):
        m = FENCE.match(line)
        if fence:
            if m and m.group(1)[0] == fence[0] and len(m.group(1)) >= len(fence):
                fence = None
            continue
        if m:
            fence = m.group(1)
        if not fence and line.lstrip().startswith("|"):
            if run is None:
                run = [number, []]
                runs.append(run)
            run[1].append(line)
        else:
            run = None
    result = []
    for start, rows in runs:
        header = len(rows) >= 2 and DELIMITER.match(rows[1]) is not None
        result.append((start, len(rows) - (1 if header else 0), header))
    return result


def rendered_rows(node):
    if isinstance(node, dict):
        own = len(node.get("rows", [])) if node.get("type") == "table" else 0
        return own + sum(rendered_rows(v) for v in node.values())
    if isinstance(node, list):
        return sum(rendered_rows(v) for v in node)
    return 0


def rendered_page(archive, path):
    """The render JSON of a DocC article or extension file, or None."""
    stem = os.path.splitext(os.path.basename(path))[0].lower()
    base = os.path.join(archive, "data", "documentation")
    for candidate in (os.path.join(base, "threadlocals", stem + ".json"), os.path.join(base, stem + ".json")):
        if os.path.exists(candidate):
            return candidate
    return None


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--archive", help="a documentation archive made by Scripts/build-docs.sh")
    parser.add_argument("files", nargs="*")
    args = parser.parse_args()
    files = args.files or doc_pages.pages()

    errors, count = [], 0
    for path in files:
        rel = os.path.relpath(os.path.abspath(path), ROOT)
        found = tables(path)
        count += len(found)
        for start, _, header in found:
            if not header:
                errors.append(
                    f"{rel}:{start}: error: table rows without a header and |---| row "
                    "(a blank line inside a table?); they render as a paragraph"
                )
        if args.archive and os.path.abspath(path).startswith(DOCC + os.sep):
            page = rendered_page(args.archive, path)
            if page is None:
                errors.append(f"{rel}: error: no rendered page for this article in {args.archive}")
                continue
            with open(page, encoding="utf-8") as f:
                rendered = rendered_rows(json.load(f))
            source = sum(rows for _, rows, _ in found)
            if rendered != source:
                errors.append(f"{rel}: error: {source} table rows in the source, {rendered} rendered")
    doc_pages.finish(errors, f"tables: {count} in {len(files)} files")


if __name__ == "__main__":
    main()
