import DeviceKit
import Transports
import WireProtocols

/// What the hall-bus keypad and display share: the link, the poll loop, and the
/// online/offline state that follows from answers and silences.
protocol HallBusDevice: Actor, Device {
    var link: HallBusLink { get }
    var context: DeviceContext? { get set }
    var isOpen: Bool { get set }
    var answering: Bool { get set }
    var pollInterval: Duration { get }
    var clock: any Clock<Duration> { get }
    /// Handles a frame the device sent in answer to a poll.
    func received(_ frame: Frame)
    /// The device is gone with its port: fail what waits on it.
    func portLost(_ error: DeviceError)
}

extension HallBusDevice {
    var identity: DeviceIdentity {
        DeviceIdentity(model: "hall-bus \(kind.rawValue)", connection: "\(link.line.path) address \(link.address) (\(link.line.settings))")
    }

    var status: DeviceStatus {
        answering ? .online : DeviceStatus(.offline, reasons: [Reason.communicationTimeout])
    }

    /// Opens the shared port and says hello with a poll. A device that does not
    /// answer opens as offline (the port is there) and comes online when it answers.
    func openLink(_ context: DeviceContext) async throws {
        try await link.line.open()
        self.context = context
        isOpen = true
        do {
            received(try await link.send(.poll, context: context))
            answering = true
        } catch let e as DeviceError where e.code == .timeOut {
            answering = false
        } catch let e as DeviceError {
            isOpen = false
            throw e
        }
    }

    /// Sends a command; failures change the state the registry shows.
    func send(_ command: HallBus.HostCommand, _ payload: [UInt8] = []) async throws -> Frame {
        guard isOpen else { throw DeviceError(.deviceNotReady, "\(id) is not open", device: id, state: .offline) }
        do {
            let frame = try await link.send(command, payload, context: context)
            setAnswering(true)
            return frame
        } catch var e as DeviceError {
            e.device = id
            if e.state == .noDevice {
                isOpen = false
                portLost(e)
                context?.report(.lost(DeviceStatus(.noDevice, reasons: e.reasons)))
            } else if e.code == .timeOut {
                setAnswering(false)
            }
            throw e
        }
    }

    func setAnswering(_ now: Bool) {
        guard now != answering else { return }
        answering = now
        context?.logger.notice(now ? "answering again" : "stopped answering")
        context?.report(.status(status))
    }

    /// Polls until the device is closed or lost, or the registry stops.
    func pollLoop() async {
        while isOpen && !Task.isCancelled {
            if let frame = try? await send(.poll) { received(frame) }
            do { try await clock.sleep(for: pollInterval) } catch { return }
        }
    }

    func checks(_ level: HealthLevel) async -> [HealthCheckItem] {
        var checks = [HealthCheckItem("port", passed: isOpen, isOpen ? "\(link.line.path) open" : "\(link.line.path) not open")]
        do {
            _ = try await send(.poll)
            checks.append(HealthCheckItem("answer", passed: true, "address \(link.address) answered a poll"))
        } catch let e as DeviceError {
            checks.append(HealthCheckItem("answer", passed: false, e.message))
        } catch {
            checks.append(HealthCheckItem("answer", passed: false, "\(error)"))
        }
        if level != .internal, checks.allSatisfy(\.passed) {
            do {
                _ = try await send(.beep)
                checks.append(HealthCheckItem("beep", passed: true, "beep sent and acknowledged"))
            } catch {
                checks.append(HealthCheckItem("beep", passed: false, "\(error)"))
            }
        }
        return checks
    }
}
