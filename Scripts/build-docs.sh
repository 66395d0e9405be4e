#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Builds the DocC documentation of the ThreadLocals module with the toolchain's
# own `docc`, without the swift-docc-plugin: nothing is added to what a package
# that depends on this one resolves.
#
#   Scripts/build-docs.sh [output-path]     (default: .build/docs/ThreadLocals.doccarchive)
#
# The default output is under .build/, which SwiftPM skips when it scans the C
# target rooted at the package root.
#
# Warnings are errors, and every public symbol must have a doc comment. The
# page "C API reference" is made from include/CThreadLocals.h on each build
# (Scripts/c-api-reference.py). To read
# the result, serve the archive and open /documentation/threadlocals, e.g.
#   python3 -m http.server -d .build/docs/ThreadLocals.doccarchive 8000
# and http://localhost:8000/documentation/threadlocals in a browser.
set -euo pipefail
cd "$(dirname "$0")/.."

output=${1:-.build/docs/ThreadLocals.doccarchive}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# 1. Symbol graph of the public API. A fresh scratch folder makes the compiler
#    emit it every time (an up-to-date build would emit nothing); the module is
#    one Swift file and one C file, so this takes seconds.
swift build --target ThreadLocals --scratch-path "$work/build" \
    -Xswiftc -emit-symbol-graph -Xswiftc -emit-symbol-graph-dir -Xswiftc "$work/symbol-graphs"
graph=$work/symbol-graphs/ThreadLocals.symbols.json
[[ -f $graph ]] || { echo "error: no symbol graph was emitted" >&2; exit 1; }

# 2. Every public symbol has a doc comment.
python3 - "$graph" <<'PY'
import json, sys
symbols = json.load(open(sys.argv[1]))["symbols"]
missing = [".".join(s["pathComponents"]) for s in symbols if not s.get("docComment")]
for name in missing:
    print(f"error: public symbol without a doc comment: {name}", file=sys.stderr)
print(f"{len(symbols)} public symbols, {len(symbols) - len(missing)} documented")
sys.exit(1 if missing else 0)
PY

# 3. The C API reference page, made from the C header (the one home of the
#    C contract) and added to a copy of the catalog, so it never drifts.
catalog=$work/ThreadLocals.docc
cp -R Sources/ThreadLocals/ThreadLocals.docc "$catalog"
python3 Scripts/c-api-reference.py include/CThreadLocals.h >"$catalog/CAPIReference.md"

# 4. The documentation archive.
rm -rf "$output"
mkdir -p "$(dirname "$output")"
docc convert "$catalog" \
    --additional-symbol-graph-dir "$work/symbol-graphs" \
    --fallback-display-name ThreadLocals \
    --fallback-bundle-identifier swift-thread-local.ThreadLocals \
    --warnings-as-errors \
    --output-path "$output"
echo "documentation: $output"
