// swift-tools-version: 6.1
//
// Benchmarks of swift-thread-local against every other way a Swift program
// gets per-thread state. Release builds only:
//
//   bash Benchmarks/compare.sh        # the side-by-side comparison (one table)
//   bash Benchmarks/instructions.sh   # instructions per operation (callgrind)
//
// A nested package, so that the library's own dependency graph stays empty:
// package-benchmark and swift-nio are dependencies of this package only.

import PackageDescription

let package = Package(
    name: "swift-thread-local-benchmarks",
    platforms: [.macOS(.v15)],
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
            dependencies: [
                "CRawTLS",
                .product(name: "ThreadLocals", package: "swift-thread-local"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
        // Shared by the benchmark targets:
        // per-operation configuration and a thread helper.
        .target(
            name: "BenchmarkSupport",
            dependencies: [.product(name: "Benchmark", package: "benchmark")]
        ),
        // The executable that `instructions.sh` runs under callgrind.
        .executableTarget(
            name: "InstructionCounts",
            dependencies: ["HotLoops"]
        ),
        .executableTarget(
            name: "ThreadLocalBenchmarks",
            dependencies: [
                "BenchmarkSupport",
                "HotLoops",
                .product(name: "ThreadLocals", package: "swift-thread-local"),
                .product(name: "Benchmark", package: "benchmark"),
            ],
            path: "Benchmarks/ThreadLocalBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        .executableTarget(
            name: "ScalingBenchmarks",
            dependencies: [
                "BenchmarkSupport",
                "HotLoops",
                .product(name: "ThreadLocals", package: "swift-thread-local"),
                .product(name: "Benchmark", package: "benchmark"),
            ],
            path: "Benchmarks/ScalingBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        // The per-thread aggregates: ThreadLocalCounter and
        // ThreadLocalAccumulator, against the S rows' Atomic and Mutex.
        .executableTarget(
            name: "AggregateBenchmarks",
            dependencies: [
                "BenchmarkSupport",
                .product(name: "ThreadLocals", package: "swift-thread-local"),
                .product(name: "Benchmark", package: "benchmark"),
            ],
            path: "Benchmarks/AggregateBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
    ],
    swiftLanguageModes: [.v6]
)
