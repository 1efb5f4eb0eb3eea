import DeviceKit
import Transports

/// What every polled serial device shares, whatever its protocol: the state that
/// follows from answers and silences, the poll loop, and what a lost port means.
protocol PolledSerialDevice: Actor, Device {
    var line: SerialLine { get }
    var context: DeviceContext? { get set }
    var isOpen: Bool { get set }
    var answering: Bool { get set }
    var pollInterval: Duration { get }
    var clock: any Clock<Duration> { get }
    /// One poll: ask the device for what it has to say and handle the answer.
    func poll() async throws
    /// The device is gone with its port: fail what waits on it.
    func portLost(_ error: DeviceError)
}

extension PolledSerialDevice {
    var status: DeviceStatus {
        answering ? .online : DeviceStatus(.offline, reasons: [Reason.communicationTimeout])
    }

    /// Opens the shared port and polls once. A device that does not answer opens as
    /// offline (its port is there) and comes online when it answers.
    func openAndPoll(_ context: DeviceContext) async throws {
        try await line.open()
        self.context = context
        isOpen = true
        answering = true
        do {
            try await guarded { try await poll() }
        } catch let e as DeviceError where e.state == .noDevice {
            throw e
        } catch {}
    }

    /// Runs an exchange; its failure changes the state the registry shows.
    func guarded<T: Sendable>(_ exchange: () async throws -> T) async throws -> T {
        guard isOpen else { throw DeviceError(.deviceNotReady, "\(id) is not open", device: id, state: .offline) }
        do {
            let value = try await exchange()
            setAnswering(true)
            return value
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
            try? await poll()
            do { try await clock.sleep(for: pollInterval) } catch { return }
        }
    }

    /// Port and answer checks; `extra` adds the external check.
    func checks(_ level: HealthLevel, extra: (String, () async throws -> String)? = nil) async -> [HealthCheckItem] {
        var checks = [HealthCheckItem("port", passed: isOpen, isOpen ? "\(line.path) open (\(line.settings))" : "\(line.path) not open")]
        do {
            try await poll()
            checks.append(HealthCheckItem("answer", passed: answering, answering ? "answered a poll" : "no answer"))
        } catch {
            checks.append(HealthCheckItem("answer", passed: false, "\(error)"))
        }
        if level != .internal, checks.allSatisfy(\.passed), let (name, run) = extra {
            do {
                checks.append(HealthCheckItem(name, passed: true, try await run()))
            } catch {
                checks.append(HealthCheckItem(name, passed: false, "\(error)"))
            }
        }
        return checks
    }
}

/// A device on a serial line, whose line's traffic a technician can record.
/// Recording takes the whole line: on a shared bus that is every device on the port.
public protocol SerialLineDevice: TrafficRecordable {
    nonisolated var serialLine: SerialLine { get }
}

extension SerialLineDevice {
    public func startRecording(file: String, for duration: Duration) async throws {
        try await serialLine.startRecording(file: file, until: .now + duration)
    }

    public func stopRecording() async -> (file: String, chunks: Int)? {
        guard let summary = await serialLine.stopRecording() else { return nil }
        return (summary.file, summary.chunks)
    }
}
