// swift-tools-version:6.1
import PackageDescription

// Strict concurrency is the Swift 6 language mode; these upcoming features keep
// existentials explicit and imports honest.
let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
]

let package = Package(
    name: "halld",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "halld", targets: ["halld"]),
        .executable(name: "hallctl", targets: ["hallctl"]),
        .executable(name: "hall-sim", targets: ["hall-sim"]),
        .executable(name: "hall-bench", targets: ["hall-bench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/groue/GRDB.swift.git", exact: "7.10.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.34.1"),
        .package(url: "https://github.com/LebJe/TOMLKit.git", exact: "0.6.0"),
        .package(url: "https://github.com/pointfreeco/swift-clocks.git", from: "1.1.1"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/swiftlang/swift-subprocess.git", from: "1.0.2"),
        .package(url: "https://github.com/apple/swift-system.git", from: "1.5.0"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
        .package(url: "https://github.com/apple/swift-crypto.git", "3.12.3"..<"5.0.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-websocket.git", from: "2.8.1"),
    ],
    targets: [
        .systemLibrary(
            name: "CZlib",
            pkgConfig: "zlib",
            providers: [.apt(["zlib1g-dev"])]
        ),
        // The raw SQLite baseline of the benchmarks.
        .systemLibrary(name: "CSQLiteBench", pkgConfig: "sqlite3", providers: [.apt(["libsqlite3-dev"])]),
        // libcups, SANE and libespeak-ng are opened when a device first needs them (dlopen:
        // CLazyLibrary), so halld without a printer, scanner or voice never maps them and
        // the libraries they bring. Their -dev packages give the headers.
        .target(name: "CLazyLibrary", linkerSettings: [.linkedLibrary("dl")]),
        // Exports its pthread_setcanceltype from every program it is linked into, so that
        // the SANE backends halld loads call it (sane.c says why).
        .target(
            name: "CSane", dependencies: ["CLazyLibrary"],
            linkerSettings: [.unsafeFlags(["-Xlinker", "--export-dynamic-symbol=pthread_setcanceltype"])]),
        .target(name: "CCups", dependencies: ["CLazyLibrary"]),
        .target(name: "CEspeakNG", dependencies: ["CLazyLibrary"]),
        .systemLibrary(name: "CLibUSB", pkgConfig: "libusb-1.0", providers: [.apt(["libusb-1.0-0-dev"])]),
        .systemLibrary(name: "CTurboJPEG", pkgConfig: "libturbojpeg", providers: [.apt(["libturbojpeg0-dev"])]),
        // Sound: ALSA for speakers, libespeak-ng for Mandarin speech without a cloud.
        .systemLibrary(name: "CAlsa", pkgConfig: "alsa", providers: [.apt(["libasound2-dev"])]),
        // Page images and documents: PNG (zlib), PNM, JPEG (libturbojpeg), PDF of JPEG pages.
        .target(
            name: "Imaging",
            dependencies: ["CZlib", "CTurboJPEG"],
            swiftSettings: swiftSettings
        ),
        // The device-abstraction layer: status model, capability protocols,
        // health checks, completion codes and the registry. No I/O (BlockingWorker is the
        // thread that drivers run their blocking calls on).
        .target(
            name: "DeviceKit",
            dependencies: [.product(name: "Logging", package: "swift-log")],
            swiftSettings: swiftSettings
        ),
        // Pure byte codecs: frame profiles (hall-bus built in), Modbus RTU,
        // checksums, GB2312/GB18030 text. No I/O: the fuzzing targets.
        .target(
            name: "WireProtocols",
            dependencies: ["DeviceKit"],
            swiftSettings: swiftSettings
        ),
        // Thin live wrappers over the OS: serial ports (termios), CUPS (libcups),
        // and the threads that run their blocking calls.
        .target(
            name: "Transports",
            dependencies: ["DeviceKit", "WireProtocols", "CCups", "CSane", "CLibUSB", "CAlsa"],
            swiftSettings: swiftSettings
        ),
        // One folder per device family, each with its README.
        .target(
            name: "Drivers",
            dependencies: ["DeviceKit", "WireProtocols", "Transports", "Imaging"],
            exclude: ["Profile/README.md", "Modbus/README.md", "Cups/README.md", "Sane/README.md", "USB/README.md", "Alsa/README.md"],
            swiftSettings: swiftSettings
        ),
        // In-process simulated devices with fault injection.
        .target(
            name: "Simulators",
            dependencies: ["DeviceKit", "Imaging", "WireProtocols"],
            exclude: ["README.md"],
            swiftSettings: swiftSettings
        ),
        // The hall's own model: tickets, windows, ratings, appointments, statistics, the
        // serving order, the ticket state machine, HallError and the HallStore protocol.
        // Pure values and rules, no I/O.
        .target(
            name: "HallModel",
            dependencies: ["DeviceKit"],
            swiftSettings: swiftSettings
        ),
        // SQLite through GRDB: migrations, the hall store and event log of a single PC,
        // device counters, print jobs.
        .target(
            name: "SQLiteStore",
            dependencies: [
                "DeviceKit", "HallModel",
                .product(name: "GRDB", package: "GRDB.swift"),
                // SQLite's C API, for the few statements of a ticket issue (`PreparedRow`).
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
            ],
            swiftSettings: swiftSettings
        ),
        // Unix socket addresses and descriptors: the one sockaddr_un in the project.
        .target(
            name: "UnixSockets",
            swiftSettings: swiftSettings
        ),
        // PostgreSQL through PostgresNIO: the hall store of a hall shared by several PCs.
        // An event loop as a task executor: awaits on a channel's own loop, no thread hop.
        .target(
            name: "LoopExecutor",
            dependencies: [.product(name: "NIOCore", package: "swift-nio")],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "PostgresStore",
            dependencies: [
                "DeviceKit", "HallModel", "LoopExecutor",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // Calls said aloud: WAV clips, the clip voice (longest match), espeak-ng, and the
        // announcer that queues each speaker's announcements and never cuts one off.
        .target(
            name: "Speech",
            dependencies: ["DeviceKit", "WireProtocols", "CEspeakNG", .product(name: "Logging", package: "swift-log")],
            swiftSettings: swiftSettings
        ),
        // Codable request/response/event types shared by halld and hallctl.
        .target(
            name: "HallAPIModels",
            dependencies: ["DeviceKit", "HallModel"],
            swiftSettings: swiftSettings
        ),
        // HTTP/1.1 over a Unix socket on SwiftNIO's client bootstrap, for hallctl and the tests.
        .target(
            name: "HallClient",
            dependencies: [
                "HallAPIModels",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        // The HTTP routes, roles from peer credentials, jobs, the event stream.
        // The hall: queue, windows, 好差评 ratings, statistics.
        .target(
            name: "Hall",
            dependencies: ["DeviceKit", "HallModel", .product(name: "Logging", package: "swift-log")],
            swiftSettings: swiftSettings
        ),
        // Scan, print and rating jobs: the job board, the scan spool, the PDF of a scan,
        // tickets rendered in ESC/POS. Used by the HTTP edge and by the hall's kiosk.
        .target(
            name: "Jobs",
            dependencies: [
                "DeviceKit", "HallAPIModels", "SQLiteStore", "Imaging", "WireProtocols",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "HallAPI",
            dependencies: [
                "DeviceKit", "HallAPIModels", "Hall", "Jobs", "HallConfiguration", "Speech", "LoopExecutor",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "HummingbirdWebSocket", package: "hummingbird-websocket"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOExtras", package: "swift-nio-extras"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            // The bridge's pages and its JavaScript client, in the binary: no files to install.
            resources: [.embedInCode("Pages/board.html"), .embedInCode("Pages/window.html"), .embedInCode("Pages/halld.js"), .embedInCode("Pages/console.html")],
            swiftSettings: swiftSettings
        ),
        // halld.toml read and checked, with no device library behind it: what halld,
        // hallctl (doctor, udev-rules) and hall-sim read configuration with.
        .target(
            name: "HallConfiguration",
            dependencies: [
                "DeviceKit", "WireProtocols", "HallModel", "HallAPIModels",
                .product(name: "TOMLKit", package: "TOMLKit"),
            ],
            swiftSettings: swiftSettings
        ),
        // Wiring, the service group.
        .target(
            name: "HallDaemon",
            dependencies: [
                "DeviceKit", "SQLiteStore", "PostgresStore", "HallAPI", "Jobs", "Simulators", "Drivers", "Transports", "Hall", "UnixSockets", "HallConfiguration", "Speech",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "TOMLKit", package: "TOMLKit"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "halld",
            dependencies: [
                "HallDaemon", "HallConfiguration",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "hallctl",
            dependencies: [
                "HallClient", "HallAPIModels", "HallConfiguration", "ChildProcess", "WireProtocols",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Subprocess", package: "swift-subprocess"),
                .product(name: "SystemPackage", package: "swift-system"),
            ],
            swiftSettings: swiftSettings
        ),
        // Child processes awaited through swift-subprocess, with deadlines (tests, hall-bench).
        .target(
            name: "ChildProcess",
            dependencies: [
                .product(name: "Subprocess", package: "swift-subprocess"),
                .product(name: "SystemPackage", package: "swift-system"),
            ],
            swiftSettings: swiftSettings
        ),
        // Every decoder of outside bytes as a fuzz target (`make fuzz`, replayed by the tests).
        .target(
            name: "FuzzTargets",
            dependencies: ["WireProtocols", "HallAPI", "HallAPIModels", "HallConfiguration"],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "hall-fuzz",
            dependencies: ["FuzzTargets"],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "hall-bench",
            dependencies: [
                "Drivers", "DeviceKit", "Simulators", "Transports", "WireProtocols", "HallDaemon", "HallConfiguration", "HallClient", "HallAPIModels", "Hall", "HallModel", "SQLiteStore", "PostgresStore", "CSQLiteBench", "ChildProcess", "UnixSockets", "Speech",
                .product(name: "Subprocess", package: "swift-subprocess"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "hall-sim",
            dependencies: [
                "Simulators", "WireProtocols", "HallConfiguration",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "HallTests",
            dependencies: [
                "DeviceKit", "Simulators", "SQLiteStore", "PostgresStore", "HallModel", "HallAPIModels", "HallClient",
                "HallAPI", "Jobs", "HallDaemon", "HallConfiguration", "CZlib", "WireProtocols", "Transports", "Drivers", "Hall", "Imaging", "FuzzTargets", "Speech", "CLazyLibrary",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Clocks", package: "swift-clocks"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "HummingbirdWSClient", package: "hummingbird-websocket"),
                "ChildProcess", "UnixSockets",
            ],
            // Serial recordings the replay tests read from the source tree.
            exclude: ["Recordings"],
            swiftSettings: swiftSettings
        ),
    ]
)
