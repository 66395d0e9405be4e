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
# - the documented opt-in, `nonisolated(unsafe)`, compiles, also in a module
#   built with `defaultIsolation(MainActor)`, and the cross-platform spelling
#   for Foundation formatters compiles without a warning;
# - a closure-scoped accessor with a `Sendable` result does not keep a value
#   on its thread (the evidence the concurrency article shows), so the library
#   offers none;
# - the mistakes new users make name the right API: the TaskLocal spelling
#   `withValue(_:operation:)`, `ThreadLocal<[Int]>()`, `ThreadLocal(0)`, and
#   `withBinding` in async code.
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

expect_errors binding_async.swift 1 "unavailable from asynchronous contexts; the thread can change at every await; use TaskLocal's withValue(_:operation:) for task context" <<'SWIFT'
import ThreadLocals
let requestID = ThreadLocal<String?>()
func handle() async { requestID.withBinding("req-1") {} }
SWIFT

expect_errors tasklocal_spelling.swift 1 "has been renamed to 'withBinding(_:operation:)'" <<'SWIFT'
import ThreadLocals
let requestID = ThreadLocal<String?>()
func run(_ job: () -> Void) { requestID.withValue("req-1") { job() } }
SWIFT

expect_errors missing_initial_value.swift 1 "'init()' is unavailable: a ThreadLocal of a non-optional value needs a closure" <<'SWIFT'
import ThreadLocals
let buffers = ThreadLocal<[Int]>()
SWIFT

expect_errors value_not_closure.swift 1 "'init(_:)' is unavailable: pass a closure that makes each thread's value" <<'SWIFT'
import ThreadLocals
let counter = ThreadLocal(0)
SWIFT

cat >"$work/spellings_ok.swift" <<'SWIFT'
import ThreadLocals
let requestID = ThreadLocal<String?>()
let typed: ThreadLocal<Int?> = ThreadLocal()
let counter = ThreadLocal { 0 }
@Sendable func one() -> Int { 1 }
let fromFunction = ThreadLocal(one)
func run(_ job: () -> Void) -> Int {
    requestID.withBinding("req-1") { job() }
    return counter.withValue { $0 } + (typed.value ?? 0) + fromFunction.value
}
SWIFT
typecheck -warnings-as-errors "$work/spellings_ok.swift"
echo "spellings_ok.swift: the overloads that name the right API do not capture correct code"

expect_errors tracked_async_use.swift 3 "unavailable from asynchronous contexts; the thread can change at every await; use it in a synchronous function, or TaskLocal for task context" <<'SWIFT'
import ThreadLocals
final class Stats: Sendable {}
let stats = TrackedThreadLocal { Stats() }
func read() async -> Stats { stats.value }
func visit() async -> Bool { stats.withValue { _ in true } }
func drop() async { stats.reset() }
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

# Foundation formatters are Sendable on one platform and not on another
# (ISO8601DateFormatter is not on Linux); a class of your own never is, so
# this spelling needs nonisolated(unsafe) everywhere, and warns nowhere.
cat >"$work/formatters.swift" <<'SWIFT'
import Foundation
import ThreadLocals
final class Formatters {
    let iso8601 = ISO8601DateFormatter()
    let dates = DateFormatter()
}
nonisolated(unsafe) let formatters = ThreadLocal { Formatters() }
func stamp(_ date: Date) -> String { formatters.withValue { $0.iso8601.string(from: date) } }
func stampInTask(_ date: Date) async -> String { formatters.withCurrentThreadValue { $0.iso8601.string(from: date) } }
SWIFT
typecheck -warnings-as-errors "$work/formatters.swift"
echo "formatters.swift: a class of your own around Foundation formatters compiles without a warning"

# A module built with defaultIsolation(MainActor): globals and classes are on
# the main actor unless marked nonisolated.
cat >"$work/main_actor_ok.swift" <<'SWIFT'
import ThreadLocals
nonisolated final class Parser { var calls = 0 }
nonisolated let counter = ThreadLocal { 0 }
nonisolated(unsafe) let parsers = ThreadLocal { Parser() }
nonisolated func work() -> Int {
    counter.value += 1
    return parsers.withValue { $0.calls }
}
func onMain() -> Int { counter.value + parsers.withValue { $0.calls } }
SWIFT
typecheck -default-isolation MainActor -warnings-as-errors "$work/main_actor_ok.swift"
echo "main_actor_ok.swift: nonisolated globals and classes in a defaultIsolation(MainActor) module compile"

expect_errors_main_actor() {
    local file=$1
    cat >"$work/$file"
    if typecheck -default-isolation MainActor "$work/$file" 2>"$work/$file.errors"; then
        echo "error: $file compiled, but must not" >&2
        exit 1
    fi
    grep -q "main actor-isolated let 'counter' can not be referenced from a nonisolated context" "$work/$file.errors" || {
        cat "$work/$file.errors" >&2
        exit 1
    }
    echo "$file: refused as expected"
}
expect_errors_main_actor main_actor_plain_let.swift <<'SWIFT'
import ThreadLocals
let counter = ThreadLocal { 0 }
nonisolated func work() -> Int { counter.value }
SWIFT

# The evidence that no accessor shape makes a cache of a non-Sendable value
# safe to share without an unsafe word: a wrapper that is Sendable and hands
# the value only to a closure with a Sendable result still lets the value
# escape through a captured variable, and region-based isolation lets it be
# sent to another task. This must keep compiling; if it stops, a future
# compiler closed the hole and the concurrency article should say so.
cat >"$work/scoped_accessor_hole.swift" <<'SWIFT'
import ThreadLocals
final class Parser { var calls = 0 }
final class ScopedCache<Value>: @unchecked Sendable {
    nonisolated(unsafe) let local: ThreadLocal<Value>
    init(_ make: @escaping @Sendable () -> Value) { local = ThreadLocal(make) }
    func withValue<R: Sendable>(_ body: (inout Value) -> R) -> R { local.withCurrentThreadValue(body) }
}
let parsers = ScopedCache { Parser() }
func leak() {
    var escaped: Parser? = nil
    parsers.withValue { escaped = $0 }
    let parser = escaped
    Task.detached { parser?.calls += 1 }  // this thread's parser, on another thread
}
SWIFT
typecheck -wmo "$work/scoped_accessor_hole.swift"
echo "scoped_accessor_hole.swift: a Sendable-result closure accessor does not keep the value on its thread"
