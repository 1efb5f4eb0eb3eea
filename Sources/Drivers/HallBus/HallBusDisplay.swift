import DeviceKit
import Transports
import WireProtocols

/// A hall-bus window display. `02` carries one byte of effect (0 static, 1 scroll,
/// 2 flash) and the lines in GB2312, separated by `0A`; the display answers `00`.
/// It is polled slowly so that one that comes back goes online by itself.
public actor HallBusDisplay: QueueDisplay, HallBusDevice {
    public nonisolated let id: DeviceID
    public nonisolated let kind = DeviceKind.display
    public nonisolated let driver = "hallbus"
    public nonisolated let name: String
    public nonisolated let lines: Int
    public nonisolated let columns: Int
    let link: HallBusLink
    let pollInterval: Duration
    let clock: any Clock<Duration>
    var context: DeviceContext?
    var isOpen = false
    var answering = false
    private var shown: DisplayContent?

    public init(
        id: DeviceID, name: String, line: SerialLine, address: UInt8, lines: Int = 1, columns: Int = 16, timeout: Duration = .milliseconds(300),
        retries: Int = 2, pollInterval: Duration = .seconds(2), clock: any Clock<Duration> = ContinuousClock()
    ) {
        self.id = id
        self.name = name
        self.lines = lines
        self.columns = columns
        self.link = HallBusLink(line: line, address: address, profile: .hallBus, timeout: timeout, retries: retries)
        self.pollInterval = pollInterval
        self.clock = clock
    }

    public func open(context: DeviceContext) async throws -> DeviceOpenInfo {
        try await openAndPoll(context)
        var c = DeviceCapabilities()
        c.lines = lines
        c.columns = columns
        c.encodings = [TextEncoding.gb2312.rawValue]
        c.effects = DisplayEffect.allCases
        return DeviceOpenInfo(identity: identity, capabilities: c, status: status)
    }

    public func close() async { isOpen = false }

    public func run(context: DeviceContext) async { await pollLoop() }

    func portLost(_ error: DeviceError) {}

    func received(_ frame: Frame) {}

    /// The `02` payload for `content`.
    static func payload(_ content: DisplayContent, device: DeviceID) throws -> [UInt8] {
        var payload: [UInt8] = [content.effectCode]
        for (i, line) in content.lines.enumerated() {
            if i > 0 { payload.append(0x0A) }
            do {
                payload += try TextEncoding.gb2312.encode(line)
            } catch {
                throw DeviceError(.invalidData, "lines[\(i)]: \(error)", device: device)
            }
        }
        return payload
    }

    public func show(_ content: DisplayContent) async throws {
        try content.validate(lines: lines, columns: columns, device: id)
        let payload = try Self.payload(content, device: id)
        guard payload.count <= FrameProfile.hallBus.maxPayload else {
            throw DeviceError(.invalidData, "lines: \(payload.count) bytes, a hall-bus frame carries \(FrameProfile.hallBus.maxPayload)", device: id)
        }
        _ = try await send(.show, payload)
        shown = content
        context?.reportShown(content)
    }

    public func content() async -> DisplayContent? { shown }

    public func healthCheck(_ level: HealthLevel) async throws -> HealthReport {
        HealthReport(device: id, level: level, checks: await hallBusChecks(level))
    }
}
