/// The state of a device, in the XFS4IoT `device` vocabulary shared by every kind.
public enum DeviceState: String, Sendable, Codable, CaseIterable {
    /// Ready for work.
    case online
    /// Known and connected, but not answering (or answering wrongly).
    case offline
    /// Not present: unplugged, port gone, queue deleted.
    case noDevice
    /// Being opened for the first time.
    case starting
    /// Working on something that excludes other work.
    case busy
    /// Broken in a way a technician must fix.
    case hardwareError
    /// Stopped by something a person at the window can fix (jam, cover, paper).
    case userError
    /// Switched off.
    case powerOff

    /// Whether work can be sent to a device in this state.
    public var acceptsWork: Bool { self == .online || self == .busy }
}

/// State plus CUPS-style reason keywords (`media-jam-error`, `toner-low-warning`,
/// `feeder-empty-report`). The suffix carries the severity; reasons are empty
/// when all is well.
public struct DeviceStatus: Sendable, Codable, Equatable, CustomStringConvertible {
    public var state: DeviceState
    public var reasons: [String]

    public init(_ state: DeviceState, reasons: [String] = []) {
        self.state = state
        self.reasons = reasons
    }

    public static let online = DeviceStatus(.online)
    public static let starting = DeviceStatus(.starting)

    public var description: String {
        reasons.isEmpty ? state.rawValue : "\(state.rawValue) (\(reasons.joined(separator: ", ")))"
    }
}

/// Reason keywords used across drivers, so a technician reads one vocabulary.
public enum Reason {
    public static let mediaEmpty = "media-empty-error"
    public static let mediaJam = "media-jam-error"
    public static let coverOpen = "cover-open-error"
    public static let feederEmpty = "feeder-empty-report"
    public static let communicationTimeout = "communication-timeout-error"
    public static let communicationGarbled = "communication-garbled-error"
    public static let deviceAbsent = "device-absent-error"
    public static let openFailed = "open-failed-error"
    /// A driver's call into the device's library has not returned within its limit.
    public static let driverStalled = "driver-stalled-error"
}
