// swift-tools-version: 6.1
import PackageDescription

let package = Package(
    name: "lazydisk",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "LayeredDisk", targets: ["LayeredDisk"]),
        .executable(name: "lazydisk", targets: ["lazydisk"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    ],
    targets: [
        .target(name: "LayeredDisk"),
        .executableTarget(
            name: "lazydisk",
            dependencies: [
                "LayeredDisk",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .executableTarget(name: "lazydisk-engine-demo", dependencies: ["LayeredDisk"], path: "Examples/EngineDemo"),
        .testTarget(name: "LayeredDiskTests", dependencies: ["LayeredDisk"]),
    ],
    swiftLanguageModes: [.v6]
)
