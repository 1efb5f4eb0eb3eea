import DeviceKit
import Transports

/// USB devices halld knows by vendor (and product) id: document scanners with
/// their SANE backend, USB-serial adapters that carry keypads and displays, and
/// USB ticket printers. The udev rules (issue 7) and the USB watcher read it.
public struct USBMatch: Sendable, Equatable {
    public enum Role: Sendable, Equatable {
        /// A document scanner driven by this SANE backend.
        case scanner(backend: String)
        /// A USB-serial adapter: keypads and displays sit behind it.
        case serialAdapter
        /// An ESC/POS ticket printer (CUPS usb:// queue).
        case ticketPrinter
    }

    public var vendor: UInt16
    /// nil: every product of the vendor.
    public var product: UInt16?
    public var role: Role
    public var what: String

    public func matches(_ id: USBID) -> Bool { id.vendor == vendor && (product == nil || product == id.product) }

    public var kind: DeviceKind? {
        switch role {
        case .scanner: .scanner
        case .ticketPrinter: .printer
        case .serialAdapter: nil
        }
    }
}

public enum USBMatchTable {
    public static let entries: [USBMatch] = [
        USBMatch(vendor: 0x04C5, product: nil, role: .scanner(backend: "fujitsu"), what: "Fujitsu/PFU fi and SP document scanners"),
        USBMatch(vendor: 0x1083, product: nil, role: .scanner(backend: "canon_dr"), what: "Canon imageFORMULA DR document scanners"),
        USBMatch(vendor: 0x04DA, product: nil, role: .scanner(backend: "kvs1025"), what: "Panasonic KV-S document scanners"),
        USBMatch(vendor: 0x0638, product: nil, role: .scanner(backend: "avision"), what: "Avision document scanners"),
        USBMatch(vendor: 0x0403, product: 0x6001, role: .serialAdapter, what: "FTDI FT232R USB-serial (RS-232/RS-485 adapters)"),
        USBMatch(vendor: 0x1A86, product: 0x7523, role: .serialAdapter, what: "WCH CH340 USB-serial"),
        USBMatch(vendor: 0x067B, product: 0x2303, role: .serialAdapter, what: "Prolific PL2303 USB-serial"),
        USBMatch(vendor: 0x10C4, product: 0xEA60, role: .serialAdapter, what: "Silicon Labs CP210x USB-serial"),
        USBMatch(vendor: 0x0416, product: 0x5011, role: .ticketPrinter, what: "POS-58/80 ESC/POS thermal printers (Winbond USB printer bridge)"),
    ]

    /// The most specific entry for a device: a product match before a vendor match.
    public static func match(_ id: USBID) -> USBMatch? {
        entries.first { $0.product != nil && $0.matches(id) } ?? entries.first { $0.matches(id) }
    }
}

/// Which configured devices are on the bus, from one enumeration: a device
/// configured by USB id (and serial number, when given) is present when a bus
/// device matches. `changes` are the devices whose presence changed since the last call.
public struct USBPresence: Sendable {
    public struct Wanted: Sendable, Equatable {
        public var device: DeviceID
        public var usb: USBID
        public var serialNumber: String?

        public init(device: DeviceID, usb: USBID, serialNumber: String? = nil) {
            self.device = device
            self.usb = usb
            self.serialNumber = serialNumber
        }

        public func matches(_ d: USBDeviceInfo) -> Bool { d.id == usb && (serialNumber == nil || d.serialNumber == serialNumber) }
    }

    public let wanted: [Wanted]
    private var present: [DeviceID: Bool] = [:]

    public init(_ wanted: [Wanted]) { self.wanted = wanted }

    public mutating func changes(_ bus: [USBDeviceInfo]) -> [(DeviceID, Bool)] {
        var out: [(DeviceID, Bool)] = []
        for w in wanted {
            let now = bus.contains(where: w.matches)
            if present[w.device] != now {
                // The first enumeration only records: the registry opens devices itself at start.
                if present[w.device] != nil { out.append((w.device, now)) }
                present[w.device] = now
            }
        }
        return out
    }
}
