#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The public API has not changed incompatibly since the baseline, except for the
# breaks recorded in .ci/api-breakage-allowlist.txt:
# - the Swift module ThreadLocals: `swift package diagnose-api-breaking-changes`;
# - the C module CThreadLocals: its header as Swift imports it, dumped with
#   swift-api-digester for the baseline and for the working tree and compared;
#   names that start with `ctl__` or `CTL__` are not API and are ignored.
# The baseline is the last release tag reachable from HEAD (`1.2.3` or `v1.2.3`),
# or, before the first release, the first commit whose CHANGELOG has the 0.1.0
# entry. Needs the repository's history (a full `git clone`, not a shallow one).
#
# An intended break: run this step, copy the lines it reports into the
# allow-list (one per line, exactly as printed), and describe the break in
# CHANGELOG.md. Empty the allow-list once a release is tagged: the tag becomes
# the new baseline. See CONTRIBUTING.md.
set -euo pipefail
allowlist=.ci/api-breakage-allowlist.txt

if [[ $(git rev-parse --is-shallow-repository) == true ]]; then
    echo "error: a shallow clone has no baseline to compare with; run git fetch --unshallow --tags" >&2
    exit 1
fi
baseline=$(git describe --tags --abbrev=0 --match '[0-9]*.[0-9]*.[0-9]*' --match 'v[0-9]*.[0-9]*.[0-9]*' HEAD \
    2>/dev/null || true)
if [[ -n $baseline ]]; then
    echo "api-breakage: baseline is the last release tag, $baseline"
else
    baseline=$(git log --reverse --format=%H -S'## 0.1.0' -- CHANGELOG.md | head -n 1)
    if [[ -z $baseline ]]; then
        echo "error: no release tag, and no commit adds the 0.1.0 entry of CHANGELOG.md" >&2
        exit 1
    fi
    echo "api-breakage: no release tag yet; baseline is $(git log -1 --format='%h (%s)' "$baseline"), the first commit with the 0.1.0 CHANGELOG entry"
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# The allow-list without comments and blank lines: the digester ignores the
# whole list if it has either.
grep -v '^#' "$allowlist" | sed '/^[[:space:]]*$/d' >"$work/allowlist.txt" || true

# --- Swift: the ThreadLocals module ------------------------------------------
swift package diagnose-api-breaking-changes "$baseline" --products ThreadLocals \
    --breakage-allowlist-path "$work/allowlist.txt"

# --- C: the CThreadLocals module -------------------------------------------
digester=$(command -v swift-api-digester || echo "$(dirname "$(readlink -f "$(command -v swift)")")/swift-api-digester")
sdk=()
if command -v xcrun >/dev/null; then sdk=(-sdk "$(xcrun --show-sdk-path)"); fi
mkdir "$work/baseline"
git archive "$baseline" include | tar -x -C "$work/baseline"
dump() { # dump INCLUDE-DIR OUTPUT
    "$digester" -dump-sdk -module CThreadLocals -I "$1" "${sdk[@]}" -o "$2" -module-cache-path "$work/cache-$(basename "$2")"
    [[ -s $2 ]] || { echo "error: swift-api-digester could not dump CThreadLocals from $1" >&2; exit 1; }
}
dump "$work/baseline/include" "$work/baseline.json"
dump include "$work/current.json"
"$digester" -diagnose-sdk --input-paths "$work/baseline.json" --input-paths "$work/current.json" \
    >"$work/diagnostics.txt" 2>&1
# The header's own declarations, without the ctl__/CTL__ implementation details.
grep '^(CThreadLocals.h): ' "$work/diagnostics.txt" \
    | awk '$3 !~ /^(ctl__|CTL__)/' >"$work/c-breaks.txt" || true
grep -vxF -f "$work/allowlist.txt" "$work/c-breaks.txt" >"$work/unexpected.txt" || true
if [[ -s $work/unexpected.txt ]]; then
    echo "error: API breakage in the C module CThreadLocals (baseline $baseline):" >&2
    cat "$work/unexpected.txt" >&2
    echo "If the break is intended, add these lines to $allowlist and note it in CHANGELOG.md." >&2
    exit 1
fi
echo "api-breakage: C module CThreadLocals: $(wc -l <"$work/c-breaks.txt") change(s) against the baseline, all in $allowlist"
