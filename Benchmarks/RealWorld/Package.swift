// swift-tools-version: 6.1
// SPDX-License-Identifier: Apache-2.0
//
// Per-thread caches and counters with real server components, measured under load:
//
//   bash Benchmarks/compare.sh --only server    # HTTP server variants under wrk (release build)
//   bash Benchmarks/compare.sh --only metrics   # the swift-metrics backend
//
// A nested package, so that the library's own dependency graph stays empty:
// swift-nio, swift-metrics and swift-prometheus are dependencies of this package only.

import PackageDescription

let package = Package(
    name: "swift-thread-local-real-world",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "swift-thread-local", path: "../.."),
        // BenchmarkThreads: starting, joining and pinning threads, shared with the benchmarks.
        .package(path: ".."),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
    ],
    targets: [
        // An HTTP/1.1 server on swift-nio whose async handler encodes JSON, formats dates
        // and decodes the query through per-request objects, one variant per way of
        // keeping them (ThreadLocal, new per request, one shared set behind a Mutex,
        // swift-nio's ThreadSpecificVariable).
        .executableTarget(
            name: "RealWorldServer",
            dependencies: [
                "ThreadLocalMetrics",
                .product(name: "ThreadLocals", package: "swift-thread-local"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Metrics", package: "swift-metrics"),
            ]
        ),
        // A swift-metrics backend whose counters are ThreadLocalCounters.
        .target(
            name: "ThreadLocalMetrics",
            dependencies: [
                .product(name: "ThreadLocals", package: "swift-thread-local"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
            ]
        ),
        // Counter increments from 1, 2 and 4 threads through swift-metrics, for three
        // backends, and a check that every exported value is exact after the threads exit.
        .executableTarget(
            name: "MetricsBenchmark",
            dependencies: [
                .product(name: "BenchmarkThreads", package: "Benchmarks"),
                "ThreadLocalMetrics",
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
