import DeviceKit
import Transports
import WireProtocols

/// The hall-bus side of a polled serial device: its link, and a poll that hands
/// the device's answer to `received`.
protocol HallBusDevice: PolledSerialDevice {
    var link: HallBusLink { get }
    /// Handles a frame the device sent in answer to a poll.
    func received(_ frame: Frame)
}

extension HallBusDevice {
    var line: SerialLine { link.line }

    var identity: DeviceIdentity {
        DeviceIdentity(model: "hall-bus \(kind.rawValue)", connection: "\(link.line.path) address \(link.address) (\(link.line.settings))")
    }

    func poll() async throws {
        received(try await send(.poll))
    }

    /// Sends a command; failures change the state the registry shows.
    func send(_ command: HallBus.HostCommand, _ payload: [UInt8] = []) async throws -> Frame {
        let (link, context) = (link, context)
        return try await guarded { try await link.send(command, payload, context: context) }
    }

    func hallBusChecks(_ level: HealthLevel) async -> [HealthCheckItem] {
        await checks(level, extra: ("beep", { _ = try await self.send(.beep); return "beep sent and acknowledged" }))
    }
}
