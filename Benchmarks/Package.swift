// swift-tools-version: 6.1
// SPDX-License-Identifier: Apache-2.0
//
// Benchmarks of swift-thread-local against every other way a Swift program
// gets per-thread state. Release builds only:
//
//   bash Benchmarks/compare.sh                        # the side-by-side comparison
//   bash Benchmarks/compare.sh --only instructions    # instructions per operation (callgrind)
//   bash Benchmarks/compare.sh --only scaling         # the aggregates' scaling (AggregateScaling)
//
// A nested package, so that the library's own dependency graph stays empty:
// package-benchmark and swift-nio are dependencies of this package only.

import PackageDescription

let threadLocals: Target.Dependency = .product(name: "ThreadLocals", package: "swift-thread-local")
let benchmark: Target.Dependency = .product(name: "Benchmark", package: "benchmark")

/// A package-benchmark suite: `Benchmarks/NAME/NAME.swift`.
func suite(_ name: String, _ dependencies: [Target.Dependency] = []) -> Target {
    .executableTarget(
        name: name,
        dependencies: ["BenchmarkSupport", "BenchmarkThreads", "HotLoops", threadLocals, benchmark] + dependencies,
        path: "Benchmarks/\(name)",
        plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
    )
}

let package = Package(
    name: "swift-thread-local-benchmarks",
    platforms: [.macOS(.v15)],
    products: [
        // Also used by Benchmarks/RealWorld.
        .library(name: "BenchmarkThreads", targets: ["BenchmarkThreads"])
    ],
    dependencies: [
        .package(name: "swift-thread-local", path: ".."),
        .package(url: "https://github.com/ordo-one/benchmark", exact: "1.38.1", traits: ["MallocInterposer"]),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
    ],
    targets: [
        // The floor: a raw `_Thread_local` variable behind static inline C
        // accessors, plus a zero-instruction compiler barrier.
        .target(name: "CRawTLS"),
        // Every hot single-thread case as one `@inline(never)` loop, shared by
        // the wall-clock benchmarks and the callgrind instruction counts, so
        // both measure the same machine code.
        .target(
            name: "HotLoops",
            dependencies: ["CRawTLS", threadLocals, .product(name: "NIOPosix", package: "swift-nio")]
        ),
        // Per-operation configuration of the suites.
        .target(name: "BenchmarkSupport", dependencies: [benchmark]),
        // Starting, joining and pinning threads (pinning needs C: see CPinning.h).
        .target(name: "CPinning"),
        .target(name: "BenchmarkThreads", dependencies: ["CPinning"]),
        // The executable that `instructions.sh` runs under callgrind.
        .executableTarget(name: "InstructionCounts", dependencies: ["HotLoops"]),
        suite("ThreadLocalBenchmarks"),
        suite("ScalingBenchmarks"),
        // The per-thread aggregates: ThreadLocalCounter and
        // ThreadLocalAccumulator, against the S rows' Atomic and Mutex.
        suite("AggregateBenchmarks"),
        // The aggregates' scaling in per-thread CPU time, with pinned threads
        // and false sharing: runs that do not fit package-benchmark's
        // one-closure samples. Writes Results/scaling.json (--json FILE).
        .executableTarget(name: "AggregateScaling", dependencies: ["BenchmarkThreads", "HotLoops", threadLocals]),
    ],
    swiftLanguageModes: [.v6]
)
