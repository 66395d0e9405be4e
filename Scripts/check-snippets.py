#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Compiles every ```swift and ```c block of the project's Markdown files.

  python3 Scripts/check-snippets.py --modules <bin>/Modules [--list] [FILE.md ...]

Run through Scripts/check-snippets.sh, which builds the ThreadLocals module
first. Without FILE arguments it checks README.md, CONTRIBUTING.md,
Benchmarks/README.md and every article of Sources/ThreadLocals/ThreadLocals.docc.

Each Swift block is type-checked the way users compile it: its top-level
declarations (and its imports) go into a library file of their own, where a
global `let` of a non-Sendable type is an error and a needless
`nonisolated(unsafe)` a warning, and its top-level statements into a
`main.swift` of the same module, where they run as a script (imports, and
`#if` groups of imports only, go into both). A top-level `let` or `var` is a
global of the library file, as in a user's library target. Both are checked
after `import ThreadLocals` with `swiftc -swift-version 6 -typecheck
-warnings-as-errors` against the built module: a snippet that makes users' builds
warn fails too. Then the same code is compiled once more with its statements
as the body of a function, through SIL (`-emit-sil`), so that region-based
isolation checks it as it checks code in a function (top-level code escapes
some of them). Each C block is compiled with `cc -std=c11 -Wall -Werror
-fsyntax-only -I include`; a C block that defines `main` is compiled and linked
with the store (Sources/CThreadLocals/CThreadLocals.c) instead. Compiler
messages name the Markdown file and line (#sourceLocation / #line).

Scripts/snippet-checks holds Markdown files the check must accept (pass-*.md)
and reject (fail-*.md); .ci/steps/55-snippets.sh runs them.

Markers: an HTML comment on the line(s) right before the opening fence.

  <!-- fragment: why -->        the next block is not compiled (part of a file,
                                another package's API, ...); say why.
  <!-- snippet-setup           hidden code compiled before the next block
  let elapsed = Duration.zero  (declarations the prose leaves out);
  -->                          not shown on GitHub or in DocC.
  <!-- snippet-continues -->   the next block is compiled together with the
                                previous compiled block of the same file (and
                                what that one continued), e.g. an article that
                                declares a variable in one block and uses it in
                                the next.
"""
import argparse
import atexit
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import doc_pages  # noqa: E402

ROOT = doc_pages.ROOT
FENCE = re.compile(r"^(\s*)(`{3,}|~{3,})\s*([^`\s]*)(.*)$")


class Block:
    def __init__(self, path, lang, line, code, setup, setup_line, fragment, continues):
        self.path, self.lang, self.line, self.code = path, lang, line, code
        self.setup, self.setup_line = setup, setup_line
        self.fragment, self.continues = fragment, continues


def parse(path):
    """The fenced code blocks of a Markdown file, with their markers."""
    rel = os.path.relpath(path, ROOT)
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    blocks, errors = [], []
    pending = {}  # marker kind -> (text, first line of text); "line" -> line of the first marker
    i = 0
    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        if stripped.startswith("<!--"):
            start = i
            body = [stripped[4:]]
            while "-->" not in body[-1] and i + 1 < len(lines):
                i += 1
                body.append(lines[i])
            text = "\n".join(body)
            text = text[: text.rindex("-->")] if "-->" in text else text
            head = text.strip().split(None, 1)[0] if text.strip() else ""
            if head in ("fragment", "fragment:") or head.startswith("fragment:"):
                pending.setdefault("line", start + 1)
                pending["fragment"] = ("", 0)
            elif head == "snippet-setup":
                setup = text.lstrip()[len("snippet-setup") :]
                # The code starts on the line after the marker's first line.
                setup = setup.split("\n", 1)[1] if "\n" in setup else ""
                pending.setdefault("line", start + 1)
                pending["setup"] = (setup.rstrip(), start + 2)
            elif head == "snippet-continues":
                pending.setdefault("line", start + 1)
                pending["continues"] = ("", 0)
            else:
                pending = {}  # another comment: not a marker
            i += 1
            continue
        m = FENCE.match(line)
        if m:
            indent, fence, lang = len(m.group(1)), m.group(2), m.group(3).lower()
            code = []
            j = i + 1
            while j < len(lines):
                close = lines[j].strip()
                if close.startswith(fence[0] * len(fence)) and close.strip(fence[0]) == "":
                    break
                code.append(lines[j][indent:] if lines[j][:indent].strip() == "" else lines[j])
                j += 1
            else:
                errors.append(f"{rel}:{i + 1}: error: code block is not closed")
            setup, setup_line = pending.get("setup", ("", 0))
            blocks.append(
                Block(rel, lang, i + 2, "\n".join(code), setup, setup_line,
                      "fragment" in pending, "continues" in pending)
            )
            pending = {}
            i = j + 1
            continue
        if stripped and pending:
            errors.append(f"{rel}:{pending['line']}: error: snippet marker not followed by a code block")
            pending = {}
        i += 1
    return blocks, errors


DECLARATION = re.compile(
    r"(?:@\w+(?:\([^)]*\))?\s+|(?:public|package|internal|fileprivate|private|open|final|static"
    r"|nonisolated(?:\(unsafe\))?|indirect|lazy|dynamic|prefix|postfix|infix)\s+)*"
    r"(?:import|let|var|func|class|struct|enum|protocol|extension|actor|typealias|operator"
    r"|precedencegroup|macro)\b"
)
CONTINUATION = re.compile(r"^(?:\.|else\b|catch\b|where\b|[-+*/%=<>!&|^?:]+\s)")


CLOSERS = {"comment": "*/", "string": '"""'}


def depth_change(line, state):
    """The change of bracket depth over a line of Swift; state carries an open
    block comment or multi-line string into the next line."""
    depth, i = 0, 0
    while i < len(line):
        open_kind = next((k for k in ("comment", "string") if state[k]), None)
        if open_kind:
            closer = CLOSERS[open_kind]
            end = line.find(closer, i)
            if end < 0:
                return depth
            state[open_kind], i = False, end + len(closer)
            continue
        c = line[i]
        if line.startswith("//", i):
            return depth
        if line.startswith("/*", i):
            state["comment"], i = True, i + 2
        elif line.startswith('"""', i):
            state["string"], i = True, i + 3
        elif c == '"':  # a one-line string, with escapes and balanced interpolations
            i += 1
            while i < len(line) and line[i] != '"':
                i += 2 if line[i] == "\\" else 1
            i += 1
        else:
            depth += (c in "([{") - (c in ")]}")
            i += 1
    return depth


def split_items(code, first_line):
    """The top-level items of Swift code: (kind, first line number, text), kind
    being "import" (an import, or an #if group of imports only), "declaration"
    or "statement". Comment and attribute lines go with the item they precede."""
    items, depth, state = [], 0, {"comment": False, "string": False}
    pending = None  # (first line, lines) of comments and blank lines before an item
    for n, line in enumerate(code.split("\n")):
        stripped = line.strip()
        at_top = depth == 0 and not state["comment"] and not state["string"]
        attributes_only = re.fullmatch(r"(?:@\w+(?:\([^)]*\))?\s*)+", stripped)  # of the next line's item
        starts = (at_top and stripped and not stripped.startswith(("//", "/*", "#else", "#elseif", "#endif"))
                  and not CONTINUATION.match(stripped) and not attributes_only)
        if at_top and items and items[-1][0] == "#if" and not stripped.startswith("#"):
            starts = False  # inside an #if group
        if starts:
            kind = "#if" if stripped.startswith("#if") else (
                "declaration" if DECLARATION.match(stripped) else "statement")
            if stripped.startswith("import "):
                kind = "import"
            head = pending or (first_line + n, [])
            items.append([kind, head[0], head[1] + [line]])
            pending = None
        elif items and not (at_top and (not stripped or stripped.startswith(("//", "/*")) or attributes_only)):
            items[-1][2].append(line)
            if stripped.startswith("#endif") and items[-1][0] == "#if":
                body = [x.strip() for x in items[-1][2]]
                only_imports = all(not x or x.startswith(("#", "//", "import ")) for x in body)
                items[-1][0] = "import" if only_imports else "declaration"
        else:
            pending = pending or (first_line + n, [])
            pending[1].append(line)
        depth += depth_change(line, state)
    return [(kind if kind != "#if" else "declaration", line, "\n".join(text)) for kind, line, text in items]


def swift_sources(chain):
    """A library file of the chain's imports and declarations, a main.swift of
    its imports and statements, and the statements as the body of a function
    (async if they await), which region-based isolation checks in full (top-level
    code escapes some of its checks)."""
    imports, library, script = ["import ThreadLocals"], [], []
    for b in chain:
        parts = ([(b.setup, b.setup_line)] if b.setup else []) + [(b.code, b.line)]
        for code, first_line in parts:
            for kind, line, text in split_items(code, first_line):
                out = {"import": imports, "declaration": library, "statement": script}[kind]
                out += [f'#sourceLocation(file: "{b.path}", line: {line})', text]
    def file(lines):
        lines = imports + lines
        return "\n".join(lines + (["#sourceLocation()"] if len(lines) > 1 else [])) + "\n"

    effects = "async throws" if any(re.search(r"\bawait\b", x) for x in script) else "throws"
    body = [f"func _snippetStatements() {effects} {{"] + script + (["#sourceLocation()"] if script else []) + ["}"]
    return file(library), file(script), "\n".join(imports + body) + "\n"


def c_source(chain):
    out = []
    for b in chain:
        if b.setup:
            out += [f'#line {b.setup_line} "{b.path}"', b.setup]
        out += [f'#line {b.line} "{b.path}"', b.code]
    return "\n".join(out) + "\n"


CODE_WIDTH = 76  # DocC cuts code lines wider than this at a 1,400-pixel window


def wide_code_lines(paths):
    """Code lines wider than CODE_WIDTH: in the fenced blocks of `paths` but
    for the pages GitHub shows (README.md, CONTRIBUTING.md,
    Benchmarks/README.md), which scroll instead, and in the code blocks (fenced, or indented four
    spaces) of the `///` doc comments of Sources/ThreadLocals. The width is
    counted from the block's own indentation, as DocC shows the code."""
    sources = glob.glob(os.path.join(ROOT, "Sources/ThreadLocals/**/*.swift"), recursive=True)
    errors = []
    github = {os.path.join(ROOT, p) for p in ("README.md", "CONTRIBUTING.md", "Benchmarks/README.md")}
    for path in [p for p in paths if os.path.abspath(p) not in github] + sources:
        rel = os.path.relpath(os.path.abspath(path), ROOT)
        with open(path, encoding="utf-8") as f:
            lines = f.read().split("\n")
        comment = path.endswith(".swift")
        fence, indent, previous = None, 0, ""
        for number, line in enumerate(lines, 1):
            if comment:
                m = re.match(r"^\s*/// ?(.*)$", line)
                if not m:
                    fence, previous = None, ""
                    continue
                line = m.group(1)
            text = line.strip()
            if fence:
                if text.startswith(fence) and text.strip(fence[0]) == "":
                    fence = None
                    continue
                width = len(line[indent:].rstrip()) if line[:indent].strip() == "" else len(line.rstrip())
            elif re.match(r"^(`{3,}|~{3,})", text):
                fence, indent = re.match(r"^(`{3,}|~{3,})", text).group(1), len(line) - len(line.lstrip())
                continue
            elif comment and line.startswith("    ") and not previous.strip() or (
                    comment and line.startswith("    ") and previous.startswith("    ")):
                width = len(line[4:].rstrip())  # an indented code block
            else:
                width = 0
            previous = line if (line.strip() or previous.startswith("    ")) else ""
            if width > CODE_WIDTH:
                errors.append(f"{rel}:{number}: error: a code line of {width} characters; DocC shows "
                              f"{CODE_WIDTH} at most and cuts the rest")
    return errors


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--modules", help="the Modules folder of `swift build --show-bin-path`")
    parser.add_argument("--list", action="store_true", help="list the blocks and what is done with them")
    parser.add_argument("files", nargs="*")
    args = parser.parse_args()
    files = args.files or doc_pages.pages()

    failures, counts = [], {"swift": 0, "c": 0, "fragment": 0}
    failures += wide_code_lines(files)
    for e in failures:
        print(e, file=sys.stderr)
    work = tempfile.mkdtemp(prefix="snippets.")
    atexit.register(shutil.rmtree, work, ignore_errors=True)
    cc = os.environ.get("CC", "cc")
    for path in files:
        blocks, errors = parse(os.path.abspath(path))
        failures += errors
        for e in errors:
            print(e, file=sys.stderr)
        chain = []  # the previous compiled block of this file and what it continued
        for n, b in enumerate(blocks):
            if b.lang not in ("swift", "c"):
                continue
            where = f"{b.path}:{b.line - 1}"
            if b.fragment:
                counts["fragment"] += 1
                if args.list:
                    print(f"{where}: {b.lang} fragment, skipped")
                chain = []
                continue
            if b.continues:
                if not chain or chain[-1].lang != b.lang:
                    msg = f"{where}: error: snippet-continues, but no compiled {b.lang} block before it"
                    print(msg, file=sys.stderr)
                    failures.append(msg)
                    continue
                chain = chain + [b]
            else:
                chain = [b]
            if args.list:
                print(f"{where}: {b.lang}" + (f", continues {len(chain) - 1} block(s)" if len(chain) > 1 else ""))
            stem = os.path.join(work, f"{len(failures)}_{counts['swift'] + counts['c']}")
            if b.lang == "swift":
                if not args.modules:
                    sys.exit("error: --modules is needed to type-check Swift blocks")
                os.makedirs(stem)
                library, script = os.path.join(stem, "declarations.swift"), os.path.join(stem, "main.swift")
                function = os.path.join(stem, "in-function", "statements.swift")
                os.makedirs(os.path.dirname(function))
                for name, text in zip((library, script, function), swift_sources(chain)):
                    with open(name, "w") as f:
                        f.write(text)
                base = [
                    "swiftc", "-swift-version", "6", "-warnings-as-errors",
                    "-module-name", "Snippet", "-I", args.modules, "-I", os.path.join(ROOT, "include"),
                    "-module-cache-path", os.path.join(work, "module-cache"),
                ]
                command = base + ["-typecheck", library, script]
                # The same code again, its statements inside a function, through
                # SIL: region-based isolation runs there, not in -typecheck.
                in_function = base + ["-parse-as-library", "-wmo", "-emit-sil", "-o", os.devnull, library, function]
            else:
                source = stem + ".c"
                with open(source, "w") as f:
                    f.write(c_source(chain))
                base = [cc, "-std=c11", "-Wall", "-Werror", "-I", os.path.join(ROOT, "include")]
                if re.search(r"\bint\s+main\s*\(", "\n".join(x.code for x in chain)):
                    command = base + ["-pthread", "-o", stem + ".out", source,
                                      os.path.join(ROOT, "Sources/CThreadLocals/CThreadLocals.c")]
                else:
                    command = base + ["-fsyntax-only", source]
            counts[b.lang] += 1
            result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
            if result.returncode == 0 and b.lang == "swift":
                result = subprocess.run(in_function, cwd=ROOT, capture_output=True, text=True)
            if result.returncode != 0:
                sys.stderr.write(result.stdout + result.stderr)
                msg = f"{where}: error: this {b.lang} block does not compile (see the messages above)"
                print(msg, file=sys.stderr)
                failures.append(msg)
    print(
        f"snippets: {counts['swift']} Swift blocks type-checked, {counts['c']} C blocks compiled, "
        f"{counts['fragment']} fragments skipped, {len(failures)} failed"
    )
    if failures:
        print("failed:", file=sys.stderr)
        for msg in failures:
            print("  " + msg, file=sys.stderr)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
