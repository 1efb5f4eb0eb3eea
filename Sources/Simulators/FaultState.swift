import DeviceKit

/// The faults injected into one simulated device, and what they mean for its
/// state, its reasons, and the work it is asked to do.
struct FaultState: Sendable {
    let id: DeviceID
    let kind: DeviceKind
    private(set) var active: Set<SimulatedFault> = []
    private(set) var unplugged = false

    init(id: DeviceID, kind: DeviceKind) {
        self.id = id
        self.kind = kind
    }

    /// Faults that make sense for a kind: keypads and displays have no paper.
    static func applicable(to kind: DeviceKind) -> Set<SimulatedFault> {
        switch kind {
        case .scanner, .printer: Set(SimulatedFault.allCases)
        case .keypad, .display, .speaker: [.timeout, .garbled, .unplug, .replug, .clear]
        }
    }

    enum Effect { case status(DeviceStatus), lost(DeviceStatus), present }

    mutating func apply(_ fault: SimulatedFault) throws -> Effect {
        guard Self.applicable(to: kind).contains(fault) else {
            throw DeviceError(.unsupportedCommand, "fault '\(fault.rawValue)' does not apply to a \(kind.rawValue)", device: id)
        }
        switch fault {
        case .unplug:
            unplugged = true
            return .lost(DeviceStatus(.noDevice, reasons: [Reason.deviceAbsent]))
        case .replug:
            unplugged = false
            return .present
        case .clear:
            active = []
        default:
            active.insert(fault)
        }
        return .status(status)
    }

    var status: DeviceStatus {
        if unplugged { return DeviceStatus(.noDevice, reasons: [Reason.deviceAbsent]) }
        var reasons: [String] = []
        var state = DeviceState.online
        if active.contains(.jam) { reasons.append(Reason.mediaJam); state = .userError }
        if active.contains(.coverOpen) { reasons.append(Reason.coverOpen); state = .userError }
        if active.contains(.paperOut) {
            if kind == .scanner {
                reasons.append(Reason.feederEmpty)
            } else {
                reasons.append(Reason.mediaEmpty)
                state = .userError
            }
        }
        if active.contains(.timeout) { reasons.append(Reason.communicationTimeout); state = .offline }
        if active.contains(.garbled) { reasons.append(Reason.communicationGarbled); state = .hardwareError }
        return DeviceStatus(state, reasons: reasons)
    }

    /// Throws the error the device gives when asked to work in this condition.
    func checkReady() throws {
        if unplugged {
            throw DeviceError(.deviceNotReady, "\(id) is not connected", device: id, reasons: [Reason.deviceAbsent], state: .noDevice)
        }
        if active.contains(.timeout) {
            throw DeviceError(.timeOut, "\(id) did not answer", device: id, reasons: [Reason.communicationTimeout], state: .offline)
        }
        if active.contains(.garbled) {
            throw DeviceError(.hardwareError, "\(id) answered with a garbled frame", device: id, reasons: [Reason.communicationGarbled], state: .hardwareError)
        }
        let s = status
        if s.state == .userError {
            throw DeviceError(.userError, "\(id) needs attention: \(s.reasons.joined(separator: ", "))", device: id, reasons: s.reasons, state: .userError)
        }
    }

    /// The health-check lines every simulated device shares.
    func internalChecks(isOpen: Bool) -> [HealthCheckItem] {
        let s = status
        return [
            HealthCheckItem("connection", passed: isOpen && !unplugged, unplugged ? "not connected" : isOpen ? "answering" : "not open"),
            HealthCheckItem("condition", passed: s.reasons.isEmpty, s.reasons.isEmpty ? "no faults" : s.reasons.joined(separator: ", ")),
        ]
    }
}
