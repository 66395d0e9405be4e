// swift-tools-version: 6.0
//
// Example programs for swift-thread-local. Each is an executable:
//   swift run --package-path Examples <name>

import PackageDescription

let package = Package(
    name: "swift-thread-local-examples",
    dependencies: [
        .package(name: "swift-thread-local", path: "..")
    ],
    targets: [
        .executableTarget(
            name: "ClassicScenario",
            dependencies: [.product(name: "ThreadLocals", package: "swift-thread-local")]
        )
    ],
    swiftLanguageModes: [.v6]
)
