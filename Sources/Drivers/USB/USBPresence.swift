import DeviceKit
import Transports

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
