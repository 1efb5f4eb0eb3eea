import DeviceKit
import Transports
import WireProtocols

/// The framed side of a polled serial device: its link, and a poll that hands
/// the device's answer to `received`.
protocol FramedDevice: PolledSerialDevice {
    var link: FrameLink { get }
    /// Handles a frame the device sent in answer to a poll.
    func received(_ frame: Frame)
}

extension FramedDevice {
    var line: SerialLine { link.line }

    var identity: DeviceIdentity {
        DeviceIdentity(
            model: "\(link.profile.name) \(kind.rawValue)", connection: "\(link.line.path) address \(link.address) (\(link.line.settings))")
    }

    func poll() async throws {
        received(try await send(link.commands.poll))
    }

    /// Sends a command; failures change the state the registry shows.
    func send(_ command: UInt16, _ payload: [UInt8] = []) async throws -> Frame {
        let (link, context) = (link, context)
        return try await guarded { try await link.send(command, payload, context: context) }
    }

    func framedChecks(_ level: HealthLevel) async -> [HealthCheckItem] {
        guard let beep = link.commands.beep else { return await checks(level) }
        return await checks(level, extra: ("beep", { _ = try await self.send(beep); return "beep sent and acknowledged" }))
    }
}
