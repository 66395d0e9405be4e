#!/usr/bin/env bash
# The ThreadLocal accessors are `noasync`: using one directly in an async
# function must not compile (Swift 6 mode), while a synchronous function that
# uses it may be called from async code. Type-checks two small snippets
# against the built ThreadLocals module.
set -euo pipefail
swift build --target ThreadLocals
modules=$(swift build --show-bin-path)/Modules
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cat >"$work/async_use.swift" <<'SWIFT'
import ThreadLocals
struct Request { var id = 0 }
let local = ThreadLocal { 0 }
let request = ThreadLocal { Request() }
func read() async -> Int { local.value }
func write() async { local.value = 1 }
func mutate() async { local.withValue { $0 += 1 } }
func check() async -> Bool { local.hasValue }
func clear() async { local.reset() }
func member() async -> Int { request.id }
SWIFT

cat >"$work/sync_use.swift" <<'SWIFT'
import ThreadLocals
let local = ThreadLocal { 0 }
func bump() -> Int {
    local.value += 1
    return local.value
}
func fromTask() async -> Int { bump() }
SWIFT

typecheck() { swiftc -swift-version 6 -typecheck -I "$modules" -I include "$@"; }

typecheck "$work/sync_use.swift"
if typecheck "$work/async_use.swift" 2>"$work/errors.txt"; then
    echo "error: direct use of a ThreadLocal in async functions compiled" >&2
    exit 1
fi
count=$(grep -c "^$work/async_use.swift:[0-9]*:[0-9]*: error: .* is unavailable from asynchronous contexts" "$work/errors.txt" || true)
if [ "$count" -ne 6 ]; then
    cat "$work/errors.txt" >&2
    echo "error: expected 6 noasync diagnostics, got $count" >&2
    exit 1
fi
echo "noasync: 6 of 6 direct async uses rejected at compile time; sync use from async code compiles"
