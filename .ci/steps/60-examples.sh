#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Builds the example package (Examples/) in release mode and runs each example
# briefly, checking what it prints.
set -euo pipefail

swift build -c release --package-path Examples
bin=$(swift build -c release --package-path Examples --show-bin-path)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

# expect FILE PATTERN...: every pattern (an extended regex) matches a line of FILE.
expect() {
    local file=$1
    shift
    for pattern in "$@"; do
        if ! grep -Eq -- "$pattern" "$file"; then
            echo "error: expected a line matching '$pattern' in the output:" >&2
            cat "$file" >&2
            return 1
        fi
    done
}

"$bin/ClassicScenario" | tee "$out/classic"
expect "$out/classic" \
    "^Alice's thread: thread-local sees Alice," \
    "^Bob's thread: thread-local sees Bob," \
    "^main thread: thread-local sees nil,"

"$bin/ScratchBuffers" 20000 | tee "$out/scratch"
expect "$out/scratch" \
    "^allocate per call +[0-9.]+ ms" \
    "^Mutex-guarded pool +[0-9.]+ ms" \
    "^ThreadLocal +[0-9.]+ ms, [0-9]+ ns per call +\([0-9]+ buffers created" \
    "^checksums agree: [0-9a-f]+$"

"$bin/FormatterCache" | tee "$out/formatter"
expect "$out/formatter" \
    "formatter #1 \(created on worker A\) released on the thread that created it" \
    "formatter #2 \(created on worker B\) released on the thread that created it" \
    "formatter #3 \(created on the main thread\) released on the thread that created it" \
    "hasValue after reset\(\) = false" \
    "formatter #4 \(created on a parked thread\) released on the main thread" \
    "^made 5 formatters in all$"
# Order matters for the last part: the ThreadLocal's values are released when
# it goes away, before the program goes on.
grep -A2 "dropping the last reference" "$out/formatter" | grep -q "formatter #4" || {
    echo "error: the parked thread's formatter was not released when the ThreadLocal went away" >&2
    exit 1
}
