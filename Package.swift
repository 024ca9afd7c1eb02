// swift-tools-version:6.1
import PackageDescription

// Only the loop touches file descriptors; parsers and codecs are pure and sit below it.
let strict: [SwiftSetting] = [.enableUpcomingFeature("InternalImportsByDefault")]
// Release builds skip the run-time exclusivity checks on the hot path (they showed up in
// profiles); debug builds, which every test runs, keep them.
let hot: [SwiftSetting] = strict + [.unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release))]

let package = Package(
    name: "wps-server",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "wps-server", targets: ["wps-server"]),
        .executable(name: "wps-bench", targets: ["wps-bench"]),
        .executable(name: "job-scheduler", targets: ["job-scheduler"]),
        .executable(name: "job-solver", targets: ["job-solver"]),
        .library(name: "WPSServer", targets: ["WPSServer"]),
        .library(name: "WPSClient", targets: ["WPSClient"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.2.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
    ],
    targets: [
        .target(name: "CWPSLinux"),
        .target(
            name: "CWPSOpenSSL",
            linkerSettings: [.linkedLibrary("ssl"), .linkedLibrary("crypto")]
        ),
        .target(name: "CWPSZlib", linkerSettings: [.linkedLibrary("z")]),
        .target(name: "WPSBytes", swiftSettings: hot),
        .target(name: "WPSHTTP", dependencies: ["WPSBytes"], swiftSettings: strict),
        .target(
            name: "WPSWebSocket",
            dependencies: ["WPSBytes", "CWPSOpenSSL"],
            swiftSettings: hot
        ),
        .target(name: "WPSProtocol", dependencies: ["WPSBytes"], swiftSettings: strict),
        .target(name: "WPSAuth", dependencies: ["WPSBytes", "CWPSOpenSSL"], swiftSettings: strict),
        .target(name: "WPSTLS", dependencies: ["CWPSOpenSSL"], swiftSettings: strict),
        .target(name: "WPSDeflate", dependencies: ["CWPSZlib"], swiftSettings: strict),
        .target(
            name: "WPSUpstream", dependencies: ["WPSBytes", "WPSHTTP", "WPSProtocol"], swiftSettings: strict),
        .target(
            name: "WPSHub",
            dependencies: ["WPSBytes", "WPSProtocol", "WPSAuth"],
            swiftSettings: hot
        ),
        .target(name: "WPSRedis", dependencies: ["WPSLoop", "WPSTLS", "WPSTLSStream"], swiftSettings: strict),
        .target(name: "WPSCluster", dependencies: ["WPSHub", "WPSAuth", "WPSProtocol"], swiftSettings: strict),
        .target(name: "WPSLoop", dependencies: ["CWPSLinux", "WPSBytes"], swiftSettings: hot),
        .target(
            name: "WPSConfig", dependencies: ["WPSUpstream", "WPSProtocol", .product(name: "Yams", package: "Yams")],
            swiftSettings: strict),
        .target(name: "WPSTLSStream", dependencies: ["WPSLoop", "WPSTLS"], swiftSettings: strict),
        .target(
            name: "WPSServer",
            dependencies: [
                "WPSBytes", "WPSHTTP", "WPSWebSocket", "WPSLoop", "WPSProtocol", "WPSAuth", "WPSHub", "WPSTLS",
                "WPSDeflate",
                "WPSUpstream", "WPSTLSStream", "WPSRedis", "WPSCluster",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: hot
        ),
        .target(
            name: "WPSClient",
            dependencies: [
                "WPSBytes", "WPSHTTP", "WPSWebSocket", "WPSProtocol", "WPSLoop", "WPSTLS", "WPSTLSStream", "WPSDeflate",
            ],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "wps-server",
            dependencies: [
                "WPSServer", "WPSAuth", "WPSHTTP", "WPSHub", "WPSLoop", "WPSTLS", "WPSDeflate", "WPSUpstream",
                "WPSConfig", "WPSRedis",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: strict
        ),
        .target(name: "WPSJobs", dependencies: ["WPSClient", "WPSBytes"], swiftSettings: strict),
        .executableTarget(
            name: "job-scheduler",
            dependencies: ["WPSJobs", "WPSClient", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "job-solver",
            dependencies: ["WPSJobs", "WPSClient", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "wps-bench",
            dependencies: [
                "WPSBytes", "WPSHTTP", "WPSWebSocket", "WPSProtocol", "WPSAuth", "WPSLoop", "WPSDeflate",
                "WPSClient", "CWPSLinux",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
            ],
            swiftSettings: strict
        ),
        .testTarget(name: "WPSBytesTests", dependencies: ["WPSBytes"]),
        .testTarget(name: "WPSHTTPTests", dependencies: ["WPSHTTP", "WPSBytes"]),
        .testTarget(name: "WPSWebSocketTests", dependencies: ["WPSWebSocket", "WPSBytes"]),
        .testTarget(name: "WPSProtocolTests", dependencies: ["WPSProtocol", "WPSBytes"]),
        .testTarget(name: "WPSAuthTests", dependencies: ["WPSAuth", "WPSBytes"]),
        .testTarget(name: "WPSHubTests", dependencies: ["WPSHub", "WPSProtocol", "WPSBytes"]),
        .testTarget(name: "WPSTLSTests", dependencies: ["WPSTLS"]),
        .testTarget(name: "WPSDeflateTests", dependencies: ["WPSDeflate"]),
        .testTarget(
            name: "WPSClientTests",
            dependencies: [
                "WPSClient", "WPSWebSocket", "WPSBytes", "WPSServer", "WPSAuth", "WPSLoop", "WPSTLS",
                "WPSUpstream",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(name: "WPSLoopTests", dependencies: ["WPSLoop", "WPSBytes", "CWPSLinux"]),
        .testTarget(
            name: "WPSServerTests",
            dependencies: [
                "WPSServer", "WPSLoop", "WPSHub", "WPSBytes", "WPSWebSocket", "WPSProtocol", "WPSDeflate", "WPSAuth",
                "WPSHTTP", .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(
            name: "WPSBenchTests", dependencies: ["wps-bench", "WPSBytes", "WPSWebSocket", "WPSDeflate", "CWPSLinux"]),
        .testTarget(name: "WPSRedisTests", dependencies: ["WPSRedis", "WPSLoop", "WPSTLS"]),
        .testTarget(name: "WPSClusterTests", dependencies: ["WPSCluster", "WPSHub", "WPSAuth", "WPSProtocol"]),
        .testTarget(name: "WPSJobsTests", dependencies: ["WPSJobs"]),
        .testTarget(name: "WPSConfigTests", dependencies: ["WPSConfig", "WPSUpstream"]),
        .testTarget(name: "WPSUpstreamTests", dependencies: ["WPSUpstream", "WPSAuth", "WPSHTTP"]),
    ]
)
