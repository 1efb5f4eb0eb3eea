import DeviceKit
import Transports
import WireProtocols

/// A window or hall display on a serial line, in any frame profile (hall-bus by
/// default). The show command carries the effect byte (when the profile's
/// commands declare effect codes) and the lines in the profile's encoding,
/// separated by the line separator; the display answers `idle`. It is polled
/// slowly so that one that comes back goes online by itself.
public actor ProfileDisplay: QueueDisplay, FramedDevice, SerialLineDevice {
    public nonisolated let id: DeviceID
    public nonisolated let kind = DeviceKind.display
    public nonisolated let driver: String
    public nonisolated let name: String
    public nonisolated let lines: Int
    public nonisolated let columns: Int
    let link: FrameLink
    public nonisolated var serialLine: SerialLine { link.line }
    let pollInterval: Duration
    let clock: any Clock<Duration>
    var context: DeviceContext?
    var isOpen = false
    var answering = false
    private var shown: DisplayContent?

    public init(
        id: DeviceID, name: String, link: FrameLink, lines: Int = 1, columns: Int = 16, pollInterval: Duration = .seconds(2),
        clock: any Clock<Duration> = ContinuousClock()
    ) {
        self.id = id
        self.name = name
        self.driver = link.driver
        self.lines = lines
        self.columns = columns
        self.link = link
        self.pollInterval = pollInterval
        self.clock = clock
    }

    /// Effects this display can show: one per declared effect code.
    public nonisolated var effects: [DisplayEffect] {
        link.commands.effectCodes.isEmpty ? [.static] : Array(DisplayEffect.allCases.prefix(link.commands.effectCodes.count))
    }

    public func open(context: DeviceContext) async throws -> DeviceOpenInfo {
        try await openAndPoll(context)
        var c = DeviceCapabilities()
        c.lines = lines
        c.columns = columns
        c.encodings = [link.profile.encoding.rawValue]
        c.effects = effects
        return DeviceOpenInfo(identity: identity, capabilities: c, status: status)
    }

    public func close() async { isOpen = false }

    public func run(context: DeviceContext) async { await pollLoop() }

    func portLost(_ error: DeviceError) {}

    func received(_ frame: Frame) {}

    /// The show payload for `content`.
    static func payload(_ content: DisplayContent, link: FrameLink, device: DeviceID) throws -> [UInt8] {
        let commands = link.commands
        var payload: [UInt8] = []
        if !commands.effectCodes.isEmpty {
            guard let index = DisplayEffect.allCases.firstIndex(of: content.effect), index < commands.effectCodes.count else {
                throw DeviceError(.invalidData, "effect: \(device) cannot show \(content.effect.rawValue)", device: device)
            }
            payload.append(commands.effectCodes[index])
        } else if content.effect != .static {
            throw DeviceError(.invalidData, "effect: \(device) shows static text only", device: device)
        }
        for (i, line) in content.lines.enumerated() {
            if i > 0 { payload += commands.lineSeparator }
            do {
                payload += try link.profile.encoding.encode(line)
            } catch {
                throw DeviceError(.invalidData, "lines[\(i)]: \(error)", device: device)
            }
        }
        guard payload.count <= link.profile.maxPayload else {
            throw DeviceError(.invalidData, "lines: \(payload.count) bytes, a \(link.profile.name) frame carries \(link.profile.maxPayload)", device: device)
        }
        return payload
    }

    public func show(_ content: DisplayContent) async throws {
        try content.validate(lines: lines, columns: columns, device: id)
        _ = try await send(link.commands.show, try Self.payload(content, link: link, device: id))
        shown = content
        context?.reportShown(content)
    }

    public func content() async -> DisplayContent? { shown }

    public func healthCheck(_ level: HealthLevel) async throws -> HealthReport {
        HealthReport(device: id, level: level, checks: await framedChecks(level))
    }
}
