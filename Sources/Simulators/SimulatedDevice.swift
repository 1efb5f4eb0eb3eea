import DeviceKit

/// What every simulated device shares: faults, the context it reports through, and
/// opening that fails while unplugged.
protocol SimulatedDevice: Actor, FaultInjectable {
    var faults: FaultState { get set }
    var context: DeviceContext? { get set }
    var isOpen: Bool { get set }
}

extension SimulatedDevice {
    var identityBase: DeviceIdentity {
        DeviceIdentity(vendor: "halld", model: "simulated \(kind.rawValue)", serialNumber: "SIM-\(id)", firmware: "1.0", connection: "simulated")
    }

    func openCommon(context: DeviceContext) throws {
        if faults.unplugged {
            throw DeviceError(.deviceNotReady, "\(id) is not connected", device: id, reasons: [Reason.deviceAbsent], state: .noDevice)
        }
        self.context = context
        self.isOpen = true
    }

    func applyFault(_ fault: SimulatedFault) throws {
        let effect = try faults.apply(fault)
        context?.logger.notice("fault injected: \(fault.rawValue)")
        switch effect {
        case .status(let s):
            if isOpen { context?.report(.status(s)) }
        case .lost(let s):
            isOpen = false
            context?.report(.lost(s))
        case .present:
            context?.report(.present)
        }
    }

    /// Throws when not open or faulted; counts a communication error for garbled frames and timeouts.
    func ready() throws {
        do {
            if !isOpen && !faults.unplugged {
                throw DeviceError(.deviceNotReady, "\(id) is not open", device: id, state: .offline)
            }
            try faults.checkReady()
        } catch let e as DeviceError {
            if e.code == .timeOut || e.code == .hardwareError { context?.report(.count(.communicationErrors, 1)) }
            throw e
        }
    }
}
