import DeviceKit
import Transports
import WireProtocols

/// Reads the hall-bus answer of one address; frames from other addresses and
/// noise are kept as noise lines.
struct HallBusReader: AnswerReader {
    let address: UInt8
    var decoder = FrameDecoder(profile: .hallBus)
    var noise: [String] = []

    init(address: UInt8, profile: FrameProfile) {
        self.address = address
        self.decoder = FrameDecoder(profile: profile)
    }

    mutating func consume(_ bytes: [UInt8]) -> Frame? {
        for event in decoder.feed(bytes) {
            switch event {
            case .message(let frame) where frame.address == UInt16(address):
                return frame
            case .message(let frame):
                noise.append("answer from address \(frame.address), expected \(address): \(frame)")
            case .garbage(let bytes, let offset, let reason):
                noise.append("\(reason); dropped \(bytes.count) bytes at offset \(offset): \(hex(bytes.prefix(32)))")
            }
        }
        return nil
    }
}

/// One hall-bus device's side of the shared line: exchanges with retries, counted
/// communication errors, and the offline/online state that follows from them.
struct HallBusLink: Sendable {
    let line: SerialLine
    let address: UInt8
    let profile: FrameProfile
    let timeout: Duration
    let retries: Int

    /// Sends a command and returns the device's answer; after `retries` silent or
    /// garbled attempts throws `timeOut` (state offline, communication-timeout-error).
    func send(_ command: HallBus.HostCommand, _ payload: [UInt8] = [], context: DeviceContext?) async throws -> Frame {
        let request = profile.encode(Frame(address: UInt16(address), command: command.rawValue, payload: payload))
        return try await line.request(
            request, timeout: timeout, retries: retries, reader: HallBusReader(address: address, profile: profile), who: "address \(address)", context: context)
    }
}
