/// Why an operation failed, in the XFS4IoT completion-code vocabulary. The API
/// answers with one of these, and job records carry it.
public enum CompletionCode: String, Sendable, Codable, CaseIterable {
    case deviceNotReady, hardwareError, timeOut, canceled, invalidData
    case unsupportedCommand, sequenceError, userError, notAuthorized, notFound, conflict
    /// The hall's shared store (PostgreSQL) cannot be reached: hall routes answer 503
    /// with it until halld reconnects; devices go on working.
    case hallStoreUnavailable
}

/// An operation on a device failed. Carries the completion code, a sentence a
/// technician can act on, and the reasons the device gave.
public struct DeviceError: Error, Sendable, Equatable, CustomStringConvertible {
    public var code: CompletionCode
    public var message: String
    public var device: DeviceID?
    public var reasons: [String]
    /// The state the device is in because of this error, when it says something
    /// about the device (an absent device is `noDevice`, a jam is `userError`).
    public var state: DeviceState?

    public init(_ code: CompletionCode, _ message: String, device: DeviceID? = nil, reasons: [String] = [], state: DeviceState? = nil) {
        self.code = code
        self.message = message
        self.device = device
        self.reasons = reasons
        self.state = state
    }

    public var description: String {
        var s = "\(code.rawValue): \(message)"
        if !reasons.isEmpty { s += " [\(reasons.joined(separator: ", "))]" }
        return s
    }

    /// The error a device in `status` gives when asked to work.
    public static func notReady(_ id: DeviceID, _ status: DeviceStatus) -> DeviceError {
        let code: CompletionCode = status.state == .userError ? .userError : status.state == .hardwareError ? .hardwareError : .deviceNotReady
        return DeviceError(code, "\(id) is \(status.state.rawValue)", device: id, reasons: status.reasons, state: status.state)
    }
}

/// The last error a device had, with when: shown in the device detail.
public struct LastError: Sendable, Codable, Equatable {
    public var code: CompletionCode
    public var message: String
    public var reasons: [String]
    public var at: String

    public init(code: CompletionCode, message: String, reasons: [String], at: String) {
        self.code = code
        self.message = message
        self.reasons = reasons
        self.at = at
    }
}
