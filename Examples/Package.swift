// swift-tools-version: 6.0
// SPDX-License-Identifier: Apache-2.0
//
// Example programs for swift-thread-local. Each is an executable:
//   swift run --package-path Examples <name>
//
// - ClassicScenario: two threads, one variable, each sees its own value.
// - ScratchBuffers: a per-thread scratch buffer for a parallel workload,
//   timed against allocating per call and a Mutex-guarded pool.
// - FormatterCache: a per-thread cache of an expensive, non-thread-safe
//   object, and when its values are released.
//
// The C examples in C/ are built by .ci/steps/70-consumers.sh.

import PackageDescription

let package = Package(
    name: "swift-thread-local-examples",
    // ScratchBuffers uses `Mutex` from the Synchronization module (macOS 15 on
    // Apple platforms); the library itself needs no minimum OS version.
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "swift-thread-local", path: "..")
    ],
    targets: [
        .executableTarget(
            name: "ClassicScenario",
            dependencies: [.product(name: "ThreadLocals", package: "swift-thread-local")]
        ),
        .executableTarget(
            name: "ScratchBuffers",
            dependencies: [.product(name: "ThreadLocals", package: "swift-thread-local")]
        ),
        .executableTarget(
            name: "FormatterCache",
            dependencies: [.product(name: "ThreadLocals", package: "swift-thread-local")]
        ),
    ],
    swiftLanguageModes: [.v6]
)
