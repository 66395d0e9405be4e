#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# What the compiler must accept and refuse (Swift 6 language mode), checked
# against the built ThreadLocals module:
# - accessors that hand out or change this thread's value outside a closure
#   are `noasync`, and so is `withValue`; `withCurrentThreadValue` (a
#   synchronous closure) works in async code, and the `noasync` message names
#   it and TaskLocal;
# - ThreadLocal is Sendable only where Value is: a ThreadLocal of a
#   non-Sendable class cannot be shared with another thread, nor can the value
#   read out of it, without an `unsafe`/`unchecked` spelling;
# - the documented opt-in, `nonisolated(unsafe)`, compiles.
set -euo pipefail
swift build --target ThreadLocals
modules=$(swift build --show-bin-path)/Modules
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# -emit-sil: region-based isolation checks run on SIL, after type checking.
typecheck() { swiftc -swift-version 6 -parse-as-library -emit-sil -o /dev/null -I "$modules" -I include "$@"; }

# Declarations that the files below share: a class that is not Sendable.
cat >"$work/shared.swift" <<'SWIFT'
final class Scratch { var bytes: [UInt8] = [] }
SWIFT

# expect_errors FILE COUNT PATTERN <<SOURCE: FILE, with SOURCE, must not compile,
# with COUNT errors matching PATTERN (and no other error).
expect_errors() {
    local file=$1 count=$2 pattern=$3
    cat >"$work/$file"
    if typecheck -wmo "$work/$file" "$work/shared.swift" 2>"$work/$file.errors"; then
        echo "error: $file compiled, but must not" >&2
        exit 1
    fi
    local all matching
    all=$(grep -c "^$work/$file:[0-9]*:[0-9]*: error: " "$work/$file.errors" || true)
    matching=$(grep -c "^$work/$file:[0-9]*:[0-9]*: error: .*$pattern" "$work/$file.errors" || true)
    if [[ "$matching" -ne "$count" || "$all" -ne "$count" ]]; then
        cat "$work/$file.errors" >&2
        echo "error: $file: expected $count errors matching '$pattern', got $matching of $all" >&2
        exit 1
    fi
    echo "$file: $count of $count refused as expected"
}

expect_errors async_use.swift 9 "unavailable from asynchronous contexts; the thread can change at every await; use withCurrentThreadValue for caches, TaskLocal for task context" <<'SWIFT'
import ThreadLocals
struct Request: Sendable { var id = 0 }
let local = ThreadLocal { 0 }
let request = ThreadLocal { Request() }
func read() async -> Int { local.value }
func write() async { local.value = 1 }
func check() async -> Bool { local.hasValue }
func clear() async { local.reset() }
func member() async -> Int { request.id }
func take() async -> Int? { local.take() }
func exchange() async -> Int? { local.exchange(2) }
func peek() async -> Int? { local.valueIfPresent }
func lend() async -> Int { local.withValue { $0 } }
SWIFT

expect_errors tracked_async_use.swift 2 "unavailable from asynchronous contexts; the thread can change at every await; use it in a synchronous function, or TaskLocal for task context" <<'SWIFT'
import ThreadLocals
final class Stats: Sendable {}
let stats = TrackedThreadLocal { Stats() }
func read() async -> Stats { stats.value }
func visit() async -> Bool { stats.withValue { _ in true } }
SWIFT

cat >"$work/async_ok.swift" <<'SWIFT'
import ThreadLocals
let local = ThreadLocal { 0 }
func next() async {}
func bump() -> Int {
    local.value += 1
    return local.value
}
func fromTask() async -> Int { bump() }
func mutate() async -> Int {
    await next()
    return local.withCurrentThreadValue {
        $0 += 1
        return $0
    }
}
SWIFT
typecheck "$work/async_ok.swift"
echo "async_ok.swift: withCurrentThreadValue after an await, and synchronous helpers, compile"

expect_errors not_sendable_global.swift 1 "not concurrency-safe" <<'SWIFT'
import ThreadLocals
let scratch = ThreadLocal { Scratch() }
SWIFT

expect_errors not_sendable_escape.swift 1 "risks causing data races" <<'SWIFT'
import ThreadLocals
func share() {
    let scratch = ThreadLocal { Scratch() }
    let mine = scratch.value
    Task.detached { mine.bytes.append(1) }
    scratch.value.bytes.append(2)
}
SWIFT

expect_errors not_sendable_capture.swift 1 "risks causing data races" <<'SWIFT'
import ThreadLocals
func share() {
    let scratch = ThreadLocal { Scratch() }
    Task.detached { scratch.withCurrentThreadValue { $0.bytes.append(1) } }
    scratch.value.bytes.append(2)
}
SWIFT

cat >"$work/opt_in.swift" <<'SWIFT'
import ThreadLocals
final class RecordFormatter {
    var calls = 0
    func format(_ value: Int) -> String {
        calls += 1
        return "record \(value)"
    }
}
nonisolated(unsafe) let formatters = ThreadLocal { RecordFormatter() }
func describe(_ value: Int) -> String { formatters.withValue { $0.format(value) } }
func fromTasks() async -> String { describe(1) }
final class Service: Sendable {
    nonisolated(unsafe) let encoders = ThreadLocal { RecordFormatter() }
    func run() async -> String { encoders.withCurrentThreadValue { $0.format(2) } }
}
SWIFT
typecheck "$work/opt_in.swift"
echo "opt_in.swift: per-thread caches of non-Sendable objects compile with nonisolated(unsafe)"
