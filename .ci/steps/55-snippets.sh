#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Every ```swift and ```c block of the README, CONTRIBUTING, Benchmarks/README
# and the DocC articles compiles as users compile it: Swift blocks type-check
# against the built ThreadLocals module, their declarations as library code and
# their statements as a script, warnings as errors; C blocks compile against
# include/CThreadLocals.h. Blocks marked `<!-- fragment: why -->` are skipped
# (see Scripts/check-snippets.py).
#
# Then the check itself: Scripts/snippet-checks/pass-*.md must pass, and each
# fail-*.md must fail with the message its first line names
# (`<!-- expect: message -->`).
set -euo pipefail
bash Scripts/check-snippets.sh
modules=$(swift build --show-bin-path)/Modules
for file in Scripts/snippet-checks/pass-*.md; do
    python3 Scripts/check-snippets.py --modules "$modules" "$file"
done
for file in Scripts/snippet-checks/fail-*.md; do
    expected=$(sed -n '1s/^<!-- expect: \(.*\) -->$/\1/p' "$file")
    [[ -n $expected ]] || { echo "$file: error: no <!-- expect: message --> on line 1" >&2; exit 1; }
    if output=$(python3 Scripts/check-snippets.py --modules "$modules" "$file" 2>&1); then
        echo "$file: error: the snippet check accepted a block it must reject" >&2
        exit 1
    fi
    if ! grep -qF -- "$expected" <<<"$output"; then
        printf '%s\n%s: error: rejected, but without "%s"\n' "$output" "$file" "$expected" >&2
        exit 1
    fi
    echo "$file: rejected as expected ($expected)"
done
