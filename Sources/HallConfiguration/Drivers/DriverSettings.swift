import DeviceKit
import Foundation
import WireProtocols

/// What each driver reads from its `[[device]]` table. The case is the driver: a new
/// driver is a new case, its reader in this folder (listed in `DeviceReading.readers`)
/// and its construction in halld's `DeviceFactory`, whose switch over this enum the
/// compiler holds complete.
public enum DriverSettings: Sendable, Equatable {
    /// `driver = "simulated"`: in-process devices with fault injection.
    case simulated(SimulatedSettings)
    /// `driver = "hallbus"` or `"profile"`: framed serial devices.
    case framed(FramedSettings)
    /// `driver = "modbus"`: Modbus RTU keypads and displays.
    case modbus(ModbusSettings)
    /// `driver = "sane"`: document scanners through SANE.
    case sane(SaneSettings)
    /// `driver = "cups"`: printers behind a CUPS queue.
    case cups(CupsSettings)
    /// `driver = "alsa"`: speakers on an ALSA PCM.
    case alsa(AlsaSettings)

    public var driver: String {
        switch self {
        case .simulated: "simulated"
        case .framed(let f): f.builtIn ? "hallbus" : "profile"
        case .modbus: "modbus"
        case .sane: "sane"
        case .cups: "cups"
        case .alsa: "alsa"
        }
    }

    /// The serial line of a serial device (hallbus, profile, modbus).
    public var serial: SerialDeviceSettings? {
        switch self {
        case .framed(let f): f.serial
        case .modbus(let m): m.serial
        default: nil
        }
    }
}

/// Reads one driver's keys from a `[[device]]` table.
struct DriverReader: Sendable {
    /// The `driver = "…"` value.
    var driver: String
    /// The kinds of device it drives.
    var kinds: [DeviceKind]
    var read: @Sendable (_ t: inout TableReader, _ kind: DeviceKind, _ profiles: [String: ProfileConfig]) throws -> DriverSettings
}

/// Reading a `[[device]]` table: the common fields, then the driver's reader.
enum DeviceReading {
    /// Every driver this build has, in the order the error messages list them.
    static let readers: [DriverReader] = [.sane, .cups, .hallBus, .profile, .modbus, .alsa, .simulated]

    static func read(_ t: inout TableReader, profiles: [String: ProfileConfig]) throws -> HallConfig.Device {
        guard let rawID = try t.string("id") else { throw t.error("id", "required: a device id of [a-z0-9-]") }
        guard let id = DeviceID(rawID) else { throw t.error("id", "expected [a-z0-9-] (1-64 characters, not starting with -), found \"\(rawID)\"") }
        guard let rawKind = try t.string("kind", oneOf: DeviceKind.allCases.map(\.rawValue)) else {
            throw t.error("kind", "required: one of \(DeviceKind.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        let kind = DeviceKind(rawValue: rawKind)!
        let names = readers.map(\.driver)
        guard let driver = try t.string("driver", oneOf: names) else {
            throw t.error("driver", "required: one of \(names.joined(separator: ", "))")
        }
        let reader = readers.first { $0.driver == driver }!
        guard reader.kinds.contains(kind) else {
            throw t.error("kind", "the \(driver) driver drives \(reader.kinds.map { $0.rawValue + "s" }.joined(separator: " and ")), not a \(kind.rawValue)")
        }
        let name = try t.string("name") ?? rawID
        var device = HallConfig.Device(id: id, kind: kind, name: name, settings: try reader.read(&t, kind, profiles))
        if kind == .display {
            device.lines = try t.int("lines", in: 1...16) ?? device.lines
            device.columns = try t.int("columns", in: 1...256) ?? device.columns
        }
        if kind == .speaker {
            device.speech = try SpeakerSettings.read(&t)
        }
        if kind == .printer, device.takesESCPOS {
            device.ticketLayout = try readTicketLayout(&t)
        }
        return device
    }

    /// `paper_mm`, `encoding` and `ticket_template` of a printer that takes ESC/POS.
    static func readTicketLayout(_ t: inout TableReader) throws -> TicketLayout {
        var layout = TicketLayout()
        if let mm = try t.int("paper_mm", in: 58...80) {
            guard let paper = ESCPOS.Paper(rawValue: mm) else { throw t.error("paper_mm", "expected 58 or 80, found \(mm)") }
            layout.paper = paper
        }
        layout.encoding = TextEncoding(rawValue: try t.string("encoding", oneOf: ["GB18030", "GBK"]) ?? "GB18030")!
        if let lines = try t.strings("ticket_template") {
            do {
                layout.template = try TicketTemplate(parsing: lines)
            } catch {
                throw t.error("ticket_template[\(error.index)]", error.message)
            }
        }
        return layout
    }
}

extension HallConfig.Device {
    /// A printer whose jobs are ESC/POS: a cups queue with `format = "escpos"`, or a
    /// simulated ticket printer.
    var takesESCPOS: Bool {
        switch settings {
        case .cups(let c): c.format == "escpos"
        case .simulated(let s): s.paper == "ticket"
        default: false
        }
    }

    // The driver's settings by name, for the code that needs one of them.
    public var serial: SerialDeviceSettings? { settings.serial }
    public var cups: CupsSettings? { if case .cups(let c) = settings { c } else { nil } }
    public var sane: SaneSettings? { if case .sane(let s) = settings { s } else { nil } }
    public var alsa: AlsaSettings? { if case .alsa(let a) = settings { a } else { nil } }
    public var profile: ProfileConfig? { if case .framed(let f) = settings { f.profile } else { nil } }
}
