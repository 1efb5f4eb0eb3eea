import DeviceKit
import Transports
import WireProtocols

/// Reads the answer of one address in a frame profile; frames from other
/// addresses and noise are kept as noise lines.
struct FrameReader: AnswerReader {
    let address: UInt16
    var decoder: FrameDecoder
    var noise: [String] = []

    init(address: UInt16, profile: FrameProfile) {
        self.address = address
        self.decoder = FrameDecoder(profile: profile)
    }

    mutating func consume(_ bytes: [UInt8]) -> Frame? {
        for event in decoder.feed(bytes) {
            switch event {
            case .message(let frame) where frame.address == address:
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

/// One framed device's side of the shared line: its address, profile and command
/// meanings; exchanges with retries, counted communication errors, and the
/// offline/online state that follows from them.
public struct FrameLink: Sendable {
    public let line: SerialLine
    public let address: UInt16
    public let profile: FrameProfile
    public let commands: FrameCommands
    public let timeout: Duration
    public let retries: Int

    /// Hall-bus (`FrameProfile.hallBus`, `FrameCommands.hallBus`) unless told otherwise.
    public init(
        line: SerialLine, address: UInt16, profile: FrameProfile = .hallBus, commands: FrameCommands = .hallBus, timeout: Duration = .milliseconds(300),
        retries: Int = 2
    ) {
        self.line = line
        self.address = address
        self.profile = profile
        self.commands = commands
        self.timeout = timeout
        self.retries = retries
    }

    /// The driver name the device reports: `hallbus` for the built-in profile.
    var driver: String { profile == .hallBus && commands == .hallBus ? "hallbus" : "profile" }

    /// Sends a command and returns the device's answer; after `retries` silent or
    /// garbled attempts throws `timeOut` (state offline, communication-timeout-error).
    public func send(_ command: UInt16, _ payload: [UInt8] = [], context: DeviceContext?) async throws -> Frame {
        let request = profile.encode(Frame(address: address, command: command, payload: payload))
        return try await line.request(
            request, timeout: timeout, retries: retries, reader: FrameReader(address: address, profile: profile), who: "address \(address)", context: context)
    }
}
