#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The package as others use it, from outside the repository:
# - a new Swift package in a temporary folder that depends on this checkout
#   with .package(path:), builds in debug and release, runs, and resolves no
#   other package;
# - C programs that use the slot API through #include (cc) and through the
#   Clang module (clang -fmodules), and a Swift program built by swiftc -I include.
set -euo pipefail

repo=$(pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# --- A Swift consumer package -------------------------------------------------
consumer=$work/consumer
mkdir -p "$consumer/Sources/Consumer"
cat >"$consumer/Package.swift" <<SWIFT
// swift-tools-version: 6.0
import PackageDescription

let package = Package(
    name: "consumer",
    dependencies: [
        .package(path: "$repo")
    ],
    targets: [
        .executableTarget(
            name: "Consumer",
            dependencies: [.product(name: "ThreadLocals", package: "$(basename "$repo")")]
        )
    ],
    swiftLanguageModes: [.v6]
)
SWIFT
cat >"$consumer/Sources/Consumer/main.swift" <<'SWIFT'
import Dispatch
import ThreadLocals

let requestID = ThreadLocal<String?>()
let counter = ThreadLocal { 0 }

func handle(_ id: String) -> String {
    requestID.value = id
    for _ in 0..<1000 { counter.value += 1 }
    return "\(requestID.value ?? "nil"):\(counter.value)"
}

let group = DispatchGroup()
let results = DispatchQueue(label: "results")
nonisolated(unsafe) var seen: [String] = []
for id in ["a", "b", "c"] {
    group.enter()
    Thread.detach {
        let line = handle(id)
        results.sync { seen.append(line) }
        group.leave()
    }
}
group.wait()
print(seen.sorted().joined(separator: " "))
print("main: \(requestID.value ?? "nil"):\(counter.value)")
SWIFT
# Thread.detach is not in the standard library: use a plain POSIX thread.
cat >"$consumer/Sources/Consumer/Thread.swift" <<'SWIFT'
#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

enum Thread {
    final class Body: Sendable {
        let run: @Sendable () -> Void
        init(_ run: @escaping @Sendable () -> Void) { self.run = run }
    }

    static func detach(_ body: @escaping @Sendable () -> Void) {
        #if canImport(Darwin)
            var thread: pthread_t? = nil
        #else
            var thread = pthread_t()
        #endif
        let context = Unmanaged.passRetained(Body(body)).toOpaque()
        let status = pthread_create(
            &thread,
            nil,
            { Unmanaged<Body>.fromOpaque($0!).takeRetainedValue().run(); return nil },
            context
        )
        precondition(status == 0)
        #if canImport(Darwin)
            pthread_detach(thread!)
        #else
            pthread_detach(thread)
        #endif
    }
}
SWIFT

expected=$'a:1000 b:1000 c:1000\nmain: nil:0'
for configuration in debug release; do
    echo "consumer: swift build -c $configuration"
    swift build -c "$configuration" --package-path "$consumer"
    actual=$("$(swift build -c "$configuration" --package-path "$consumer" --show-bin-path)/Consumer")
    echo "$actual"
    if [[ "$actual" != "$expected" ]]; then
        echo "error: the consumer printed something else; expected:" >&2
        echo "$expected" >&2
        exit 1
    fi
done

# The library brings no dependency of its own into the consumer's resolution:
# the consumer's tree is itself plus this package, and nothing is pinned.
swift package --package-path "$consumer" show-dependencies
dependencies=$(swift package --package-path "$consumer" show-dependencies --format json)
if [[ $(echo "$dependencies" | grep -c '"identity"') != 2 ]]; then
    echo "error: the consumer resolves packages other than itself and this one:" >&2
    echo "$dependencies" >&2
    exit 1
fi
if [[ -f "$consumer/Package.resolved" ]] && grep -q '"identity"' "$consumer/Package.resolved"; then
    echo "error: the consumer's Package.resolved pins packages" >&2
    exit 1
fi

# --- C consumers --------------------------------------------------------------
# The Swift toolchain's clang (next to swift), or else the one on PATH.
clang=$(dirname "$(readlink -f "$(command -v swift)")")/clang
[[ -x $clang ]] || clang=clang

echo "C: cc with #include <CThreadLocals.h>"
cc -std=c11 -O2 -Wall -Werror -I include -pthread -o "$work/slots" \
    Examples/C/slots.c Sources/CThreadLocals/CThreadLocals.c
"$work/slots" | tee "$work/slots.out"
grep -qx ok "$work/slots.out"

echo "C: clang -fmodules with #pragma clang module import"
"$clang" -fmodules -fmodules-cache-path="$work/modules" -Wall -Werror -I include -o "$work/slots-modules" \
    Examples/C/slots_modules.c Sources/CThreadLocals/CThreadLocals.c -pthread
"$work/slots-modules" | tee "$work/slots-modules.out"
grep -qx "ok (#pragma clang module import)" "$work/slots-modules.out"

echo "Objective-C: clang -fmodules with @import CThreadLocals;"
"$clang" -fmodules -fmodules-cache-path="$work/modules" -Wall -Werror -I include -o "$work/slots-import" \
    -x objective-c Examples/C/slots_modules.c -x c Sources/CThreadLocals/CThreadLocals.c -pthread
"$work/slots-import" | tee "$work/slots-import.out"
grep -qx "ok (@import)" "$work/slots-import.out"

echo "Swift without SwiftPM: swiftc -I include"
cc -std=c11 -O2 -I include -c Sources/CThreadLocals/CThreadLocals.c -o "$work/CThreadLocals.o"
swiftc -swift-version 6 -O -I include -module-cache-path "$work/swift-modules" \
    Examples/C/slots.swift "$work/CThreadLocals.o" -o "$work/slots-swift"
"$work/slots-swift" | tee "$work/slots-swift.out"
grep -qx ok "$work/slots-swift.out"
