import DeviceKit
import Foundation

/// The daemon's configuration (`halld.toml`). Every key is documented in
/// `Config/halld.toml`; unknown keys and wrong types stop the start.
public struct HallConfig: Sendable, Equatable {
    public struct Roles: Sendable, Equatable {
        public var technician: [String] = []
        public var clerk: [String] = []
        public var kiosk: [String] = []
    }

    public struct Device: Sendable, Equatable {
        public var id: DeviceID
        public var kind: DeviceKind
        public var driver: String
        public var name: String
        /// Simulated scanner: sheets in the ADF per job.
        public var sheets: Int = 5
        /// Simulated printer: `ticket` or `a4`.
        public var paper: String = "ticket"
        /// Simulated display: lines and columns.
        public var lines: Int = 2
        public var columns: Int = 16
    }

    public var socket = "/run/halld/halld.sock"
    /// Group given to the socket file (mode 0660) when it exists on the system.
    public var socketGroup = "halld"
    public var stateDir = "/var/lib/halld"
    public var roles = Roles()
    public var eventRetentionDays = 30
    public var subscriberBuffer = 256
    public var heartbeatSeconds = 15.0
    public var retry = RetryPolicy()
    public var logLevel = "info"
    public var devices: [Device] = []

    public init() {}

    /// Drivers this build has. The others named by the API contract arrive with their issues.
    public static let drivers = ["simulated"]

    /// Reads and checks a configuration file.
    public static func load(file: String) throws -> HallConfig {
        let text: String
        do {
            text = try String(contentsOfFile: file, encoding: .utf8)
        } catch {
            throw ConfigError(file: file, key: nil, message: "cannot be read: \((error as NSError).localizedDescription)")
        }
        return try parse(text, file: file)
    }

    public static func parse(_ text: String, file: String) throws -> HallConfig {
        var root = TableReader(file: file, path: "", values: try ConfigValue.parse(toml: text, file: file))
        var config = HallConfig()
        if var api = try root.table("api") {
            config.socket = try api.string("socket") ?? config.socket
            config.socketGroup = try api.string("socket_group") ?? config.socketGroup
            if config.socket.isEmpty || !config.socket.hasPrefix("/") { throw api.error("socket", "expected an absolute path, found \"\(config.socket)\"") }
            if config.socket.utf8.count > 107 { throw api.error("socket", "a Unix socket path is at most 107 bytes") }
            try api.finish()
        }
        if var storage = try root.table("storage") {
            config.stateDir = try storage.string("state_dir") ?? config.stateDir
            if !config.stateDir.hasPrefix("/") { throw storage.error("state_dir", "expected an absolute path, found \"\(config.stateDir)\"") }
            try storage.finish()
        }
        if var roles = try root.table("roles") {
            config.roles.technician = try roles.strings("technician") ?? []
            config.roles.clerk = try roles.strings("clerk") ?? []
            config.roles.kiosk = try roles.strings("kiosk") ?? []
            try roles.finish()
        }
        if var events = try root.table("events") {
            config.eventRetentionDays = try events.int("retention_days", in: 1...3650) ?? config.eventRetentionDays
            config.subscriberBuffer = try events.int("subscriber_buffer", in: 16...100_000) ?? config.subscriberBuffer
            config.heartbeatSeconds = try events.seconds("heartbeat_seconds", in: 1...300) ?? config.heartbeatSeconds
            try events.finish()
        }
        if var registry = try root.table("registry") {
            let initial = try registry.seconds("retry_initial_seconds", in: 0.01...600) ?? 1
            let maximum = try registry.seconds("retry_max_seconds", in: 0.01...3600) ?? 60
            config.retry = RetryPolicy(initial: .milliseconds(Int(initial * 1000)), maximum: .milliseconds(Int(maximum * 1000)))
            try registry.finish()
        }
        if var log = try root.table("log") {
            config.logLevel = try log.string("level", oneOf: ["trace", "debug", "info", "notice", "warning", "error", "critical"]) ?? config.logLevel
            try log.finish()
        }
        var seen: Set<DeviceID> = []
        for var table in try root.tables("device") {
            let device = try readDevice(&table)
            guard seen.insert(device.id).inserted else { throw table.error("id", "device id \"\(device.id)\" is used twice") }
            config.devices.append(device)
            try table.finish()
        }
        try root.finish()
        return config
    }

    private static func readDevice(_ t: inout TableReader) throws -> Device {
        guard let rawID = try t.string("id") else { throw t.error("id", "required: a device id of [a-z0-9-]") }
        guard let id = DeviceID(rawID) else { throw t.error("id", "expected [a-z0-9-] (1-64 characters, not starting with -), found \"\(rawID)\"") }
        guard let rawKind = try t.string("kind", oneOf: DeviceKind.allCases.map(\.rawValue)) else {
            throw t.error("kind", "required: one of \(DeviceKind.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        let kind = DeviceKind(rawValue: rawKind)!
        let contract = ["sane", "cups", "hallbus", "profile", "modbus", "simulated"]
        guard let driver = try t.string("driver", oneOf: contract) else {
            throw t.error("driver", "required: one of \(contract.joined(separator: ", "))")
        }
        guard drivers.contains(driver) else {
            throw t.error("driver", "driver \"\(driver)\" is not part of this build yet (available: \(drivers.joined(separator: ", ")))")
        }
        var device = Device(id: id, kind: kind, driver: driver, name: try t.string("name") ?? rawID)
        switch kind {
        case .scanner: device.sheets = try t.int("sheets", in: 1...1000) ?? device.sheets
        case .printer: device.paper = try t.string("paper", oneOf: ["ticket", "a4"]) ?? device.paper
        case .display:
            device.lines = try t.int("lines", in: 1...16) ?? device.lines
            device.columns = try t.int("columns", in: 1...256) ?? device.columns
        case .keypad: break
        }
        return device
    }
}
