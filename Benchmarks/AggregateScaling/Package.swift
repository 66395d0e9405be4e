// swift-tools-version: 6.0
//
// Scaling of the per-thread aggregates (ThreadLocalCounter, ThreadLocalAccumulator)
// against a shared Atomic<Int> and a Mutex<Int>, for 1, 2, 4 and 8 threads, the cost of
// sum() as the number of threads grows, and the cost of false sharing.
//
//     swift run -c release --package-path Benchmarks/AggregateScaling AggregateScaling --json out.json
//
// A standalone timing tool: the multi-thread scaling runs do not fit the one-closure
// shape of the package-benchmark suite in Benchmarks/, into which the single-thread
// figures can be folded.

import PackageDescription

let package = Package(
    name: "AggregateScaling",
    dependencies: [
        .package(name: "swift-thread-local", path: "../..")
    ],
    targets: [
        .target(name: "CPinning"),
        .executableTarget(
            name: "AggregateScaling",
            dependencies: ["CPinning", .product(name: "ThreadLocals", package: "swift-thread-local")]
        ),
    ],
    swiftLanguageModes: [.v6]
)
