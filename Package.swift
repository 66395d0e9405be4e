// swift-tools-version: 6.0
// SPDX-License-Identifier: Apache-2.0
//
// swift-thread-local: native thread-local storage for Swift.
//
// The C target owns the top-level `include/` folder, so that C programs can use
// `include/CThreadLocals.h` and `include/module.modulemap` directly. The module
// map lives in `include/` rather than at the package root: a file named
// `module.modulemap` at the root makes SwiftPM treat the whole package as a
// legacy system-library package and ignore every target.

import PackageDescription

let package = Package(
    name: "swift-thread-local",
    products: [
        .library(name: "ThreadLocals", targets: ["ThreadLocals"])
    ],
    targets: [
        .target(
            name: "CThreadLocals",
            path: ".",
            sources: ["Sources/CThreadLocals"],
            publicHeadersPath: "include"
        ),
        .target(
            name: "ThreadLocals",
            dependencies: ["CThreadLocals"]
        ),
        .target(
            name: "ThreadLocalsTestSupport",
            dependencies: ["ThreadLocals"],
            path: "Tests/ThreadLocalsTestSupport"
        ),
        .target(
            name: "CThreadLocalsTestHarness",
            dependencies: ["CThreadLocals"],
            path: "Tests/CThreadLocalsTestHarness"
        ),
        .testTarget(
            name: "ThreadLocalsTests",
            dependencies: ["ThreadLocals", "ThreadLocalsTestSupport"]
        ),
        .testTarget(
            name: "ThreadLocalsStressTests",
            dependencies: ["ThreadLocals", "CThreadLocals", "ThreadLocalsTestSupport", "CThreadLocalsTestHarness"]
        ),
    ],
    swiftLanguageModes: [.v6]
)
