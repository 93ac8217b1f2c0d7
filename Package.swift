// swift-tools-version: 6.1
import PackageDescription

let package = Package(
    name: "lazydisk",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "LayeredDisk", targets: ["LayeredDisk"]),
        .library(name: "ImageModel", targets: ["ImageModel"]),
        .library(name: "Fetching", targets: ["Fetching"]),
        .library(name: "HTTPClient", targets: ["HTTPClient"]),
        .library(name: "RemoteImage", targets: ["RemoteImage"]),
        .library(name: "FileCache", targets: ["FileCache"]),
        .library(name: "NBD", targets: ["NBD"]),
        .library(name: "Qcow2", targets: ["Qcow2"]),
        .library(name: "Verity", targets: ["Verity"]),
        .executable(name: "lazydisk", targets: ["lazydisk"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-system", from: "1.8.1"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/swiftlang/swift-subprocess", from: "1.0.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "4.5.2"),
        .package(url: "https://github.com/apple/swift-collections", from: "1.6.0"),
    ],
    targets: [
        .target(name: "LayeredDisk"),
        .target(name: "ImageModel", dependencies: ["LayeredDisk"]),
        .target(name: "Fetching", dependencies: ["LayeredDisk", .product(name: "CoreMetrics", package: "swift-metrics")]),
        .systemLibrary(name: "CCurl", pkgConfig: "libcurl", providers: [.apt(["libcurl4-openssl-dev"])]),
        .target(name: "CJemalloc", linkerSettings: [.linkedLibrary("jemalloc")]),
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "CIsal", pkgConfig: "libisal", providers: [.apt(["libisal-dev"])]),
        .systemLibrary(name: "CZstd", pkgConfig: "libzstd", providers: [.apt(["libzstd-dev"])]),
        .target(name: "Qcow2", dependencies: ["LayeredDisk", "CIsal", "CZlib", "CZstd"]),
        .target(
            name: "Verity",
            dependencies: [
                "LayeredDisk",
                "Fetching",
                "FileCache",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "SystemPackage", package: "swift-system"),
            ]
        ),
        .target(
            name: "HTTPClient",
            dependencies: [
                "Fetching",
                "CCurl",
                .product(name: "CoreMetrics", package: "swift-metrics"),
            ]
        ),
        .target(
            name: "RemoteImage",
            dependencies: [
                "HTTPClient",
                "LayeredDisk",
                "ImageModel",
                "Fetching",
                "Verity",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(
            name: "FileCache",
            dependencies: [
                "LayeredDisk",
                "Fetching",
                "ImageModel",
                .product(name: "SystemPackage", package: "swift-system"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "BitCollections", package: "swift-collections"),
            ]
        ),
        .target(
            name: "NBD",
            dependencies: [
                "LayeredDisk",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
            ]
        ),
        .executableTarget(
            name: "lazydisk",
            dependencies: [
                "CJemalloc",
                "LayeredDisk",
                "ImageModel",
                "Fetching",
                "HTTPClient",
                "RemoteImage",
                "FileCache",
                "NBD",
                "Qcow2",
                "Verity",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "SystemPackage", package: "swift-system"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Subprocess", package: "swift-subprocess"),
            ]
        ),
        .target(name: "CProcessShims", path: "Tests/Support/CProcessShims"),
        .target(
            name: "HTTPTestServers",
            dependencies: [
                "CProcessShims",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            path: "Tests/Support/HTTPTestServers"
        ),
        .executableTarget(
            name: "LatencyProxy",
            dependencies: ["HTTPTestServers", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            path: "Tests/Support/LatencyProxy"
        ),
        .testTarget(name: "LayeredDiskTests", dependencies: ["LayeredDisk"]),
        .testTarget(name: "ImageModelTests", dependencies: ["ImageModel"]),
        .testTarget(name: "FetchingTests", dependencies: ["Fetching", "LayeredDisk"]),
        .testTarget(name: "VerityTests", dependencies: ["Verity", "Fetching", "HTTPTestServers", .product(name: "SystemPackage", package: "swift-system")]),
        .testTarget(name: "Qcow2Tests", dependencies: ["Qcow2", "LayeredDisk", "HTTPTestServers"]),
        .testTarget(name: "RemoteImageTests", dependencies: ["RemoteImage", "HTTPClient", "ImageModel", "LayeredDisk", "Fetching", "HTTPTestServers"]),
        .testTarget(
            name: "NBDTests",
            dependencies: [
                "NBD",
                "LayeredDisk",
                "HTTPTestServers",
                .product(name: "SystemPackage", package: "swift-system"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
        .testTarget(
            name: "FileCacheTests",
            dependencies: ["FileCache", "LayeredDisk", "ImageModel", "HTTPTestServers", .product(name: "SystemPackage", package: "swift-system")]
        ),
        .testTarget(
            name: "IntegrationTests",
            dependencies: ["RemoteImage", "HTTPClient", "ImageModel", "Fetching", "LayeredDisk", "FileCache", "HTTPTestServers", "lazydisk"]
        ),
    ],
    swiftLanguageModes: [.v6]
)

// Each file imports the modules whose members it uses: without this, an
// extension member leaks into every file of a module once one file imports
// its module, and the imports stop saying what a file depends on.
for target in package.targets where target.type != .system {
    target.swiftSettings = (target.swiftSettings ?? []) + [.enableUpcomingFeature("MemberImportVisibility")]
}
