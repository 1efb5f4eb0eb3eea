import DeviceKit
import Foundation
import WireProtocols

/// Where a serial device sits: its port, line settings, bus address and timing.
public struct SerialDeviceSettings: Sendable, Equatable {
    public var port: String
    public var settings = SerialSettings()
    public var address: UInt16 = 1
    public var timeoutMilliseconds = 300
    public var retries = 2
    public var pollMilliseconds = 200
    /// Keypads: the level of key 1, key 2, …
    public var keys: [RatingLevel] = RatingLevel.allCases

    public init(port: String) { self.port = port }
}

/// `driver = "hallbus"` or `"profile"`: a device on a framed serial bus.
public struct FramedSettings: Sendable, Equatable {
    public var serial: SerialDeviceSettings
    /// The frame layout and what its commands mean.
    public var profile: ProfileConfig
    /// `driver = "hallbus"` (the built-in profile) rather than `profile = "hallbus"`.
    public var builtIn: Bool
}

/// `driver = "modbus"`: a Modbus RTU unit and its register map.
public struct ModbusSettings: Sendable, Equatable {
    public var serial: SerialDeviceSettings
    public var registers = ModbusRegisterMap()
}

extension DriverReader {
    static let hallBus = DriverReader(driver: "hallbus", kinds: [.keypad, .display]) { t, kind, profiles in
        let serial = try SerialReading.read(&t, kind: kind, addressLimit: 255)
        return .framed(FramedSettings(serial: serial, profile: .hallBus, builtIn: true))
    }
}

extension DriverReader {
    static let profile = DriverReader(driver: "profile", kinds: [.keypad, .display]) { t, kind, profiles in
        var serial = try SerialReading.read(&t, kind: kind, addressLimit: nil)
        guard let name = try t.string("profile") else { throw t.error("profile", "required: the name of a [[profile]] table, or hallbus") }
        guard let profile = name == "hallbus" ? .hallBus : profiles[name] else {
            throw t.error("profile", "no [[profile]] named \"\(name)\" (defined: \((["hallbus"] + profiles.keys.sorted()).joined(separator: ", ")))")
        }
        if kind == .keypad, let problem = profile.commands.validate(profile.frame, keypad: true) {
            throw t.error("profile", "profile \"\(name)\" cannot drive a keypad: \(problem)")
        }
        let limit = profile.frame.addressWidth == 2 ? 65535 : 255
        if Int(serial.address) > limit { throw t.error("address", "expected 0 to \(limit), found \(serial.address)") }
        return .framed(FramedSettings(serial: serial, profile: profile, builtIn: false))
    }
}

extension DriverReader {
    static let modbus = DriverReader(driver: "modbus", kinds: [.keypad, .display]) { t, kind, profiles in
        let serial = try SerialReading.read(&t, kind: kind, addressLimit: 255)
        func register(_ key: String) throws -> UInt16? { try t.int(key, in: 0...65535).map(UInt16.init) }
        var map = ModbusRegisterMap()
        if kind == .keypad {
            map.startRegister = try register("start_register") ?? map.startRegister
            map.resultRegister = try register("result_register") ?? map.resultRegister
        } else {
            map.effectRegister = try register("effect_register") ?? map.effectRegister
            map.textRegister = try register("text_register") ?? map.textRegister
            map.textRegisters = UInt16(try t.int("text_registers", in: 1...123) ?? Int(map.textRegisters))
        }
        return .modbus(ModbusSettings(serial: serial, registers: map))
    }
}

/// The keys every serial device has: port, line settings, address, timing, keys.
enum SerialReading {
    /// `addressLimit`: the highest bus address the driver can reach (nil: checked by the caller).
    static func read(_ t: inout TableReader, kind: DeviceKind, addressLimit: Int?) throws -> SerialDeviceSettings {
        guard let port = try t.string("port"), !port.isEmpty else { throw t.error("port", "required: the serial port, e.g. /dev/halld/bus-1") }
        var serial = SerialDeviceSettings(port: port.hasPrefix("/") ? port : FileManager.default.currentDirectoryPath + "/" + port)
        if let baud = try t.int("baud", in: 1...4_000_000) {
            guard SerialSettings.bauds.contains(baud) else { throw t.error("baud", "expected one of \(SerialSettings.bauds.map(String.init).joined(separator: ", ")), found \(baud)") }
            serial.settings.baud = baud
        }
        serial.settings.dataBits = try t.int("data_bits", in: 7...8) ?? 8
        serial.settings.parity = SerialSettings.Parity(rawValue: try t.string("parity", oneOf: SerialSettings.Parity.allCases.map(\.rawValue)) ?? "none")!
        serial.settings.stopBits = try t.int("stop_bits", in: 1...2) ?? 1
        serial.settings.rs485 = try t.bool("rs485") ?? false
        serial.address = UInt16(try t.int("address", in: 0...65535) ?? 1)
        if let limit = addressLimit, Int(serial.address) > limit { throw t.error("address", "expected 0 to \(limit), found \(serial.address)") }
        serial.timeoutMilliseconds = try t.int("timeout_ms", in: 10...10_000) ?? serial.timeoutMilliseconds
        serial.retries = try t.int("retries", in: 0...10) ?? serial.retries
        serial.pollMilliseconds = try t.int("poll_ms", in: 10...60_000) ?? serial.pollMilliseconds
        if kind == .keypad, let keys = try t.strings("keys") {
            serial.keys = try keys.enumerated().map { i, word in
                guard let level = RatingLevel(parsing: word) else {
                    throw t.error("keys[\(i)]", "expected a level (verySatisfied … veryDissatisfied or 非常满意 … 非常不满意), found \"\(word)\"")
                }
                return level
            }
            if serial.keys.isEmpty { throw t.error("keys", "at least one key") }
        }
        return serial
    }
}
