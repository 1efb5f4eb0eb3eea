import DeviceKit
import Transports
import WireProtocols

/// A queue display with Modbus RTU registers: the effect in one holding register,
/// the text (GB2312, two bytes a register, lines separated by 0A) in a block
/// written with function 16.
public actor ModbusDisplay: QueueDisplay, PolledSerialDevice, SerialLineDevice {
    public nonisolated let id: DeviceID
    public nonisolated let kind = DeviceKind.display
    public nonisolated let driver = "modbus"
    public nonisolated let name: String
    public nonisolated let lines: Int
    public nonisolated let columns: Int
    let link: ModbusLink
    public nonisolated var serialLine: SerialLine { link.line }
    let map: ModbusRegisterMap
    let pollInterval: Duration
    let clock: any Clock<Duration>
    var line: SerialLine { link.line }
    var context: DeviceContext?
    var isOpen = false
    var answering = false
    private var shown: DisplayContent?

    public init(
        id: DeviceID, name: String, line: SerialLine, unit: UInt8, map: ModbusRegisterMap = ModbusRegisterMap(), lines: Int = 1, columns: Int = 16,
        timeout: Duration = .milliseconds(300), retries: Int = 2, pollInterval: Duration = .seconds(2), clock: any Clock<Duration> = ContinuousClock()
    ) {
        self.id = id
        self.name = name
        self.lines = lines
        self.columns = columns
        self.link = ModbusLink(line: line, unit: unit, timeout: timeout, retries: retries)
        self.map = map
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
        return DeviceOpenInfo(
            identity: DeviceIdentity(model: "Modbus display", connection: "\(line.path) unit \(link.unit) (\(line.settings))"), capabilities: c, status: status)
    }

    public func close() async { isOpen = false }

    public func run(context: DeviceContext) async { await pollLoop() }

    func portLost(_ error: DeviceError) {}

    private func send(_ request: ModbusRequest) async throws -> ModbusResponse {
        let (link, context) = (link, context)
        return try await guarded { try await link.send(request, context: context) }
    }

    func poll() async throws {
        _ = try await send(.readHolding(unit: link.unit, address: map.effectRegister, count: 1))
    }

    public func show(_ content: DisplayContent) async throws {
        try content.validate(lines: lines, columns: columns, device: id)
        var text: [UInt8] = []
        for (i, line) in content.lines.enumerated() {
            if i > 0 { text.append(0x0A) }
            do { text += try TextEncoding.gb2312.encode(line) } catch { throw DeviceError(.invalidData, "lines[\(i)]: \(error)", device: id) }
        }
        guard text.count <= Int(map.textRegisters) * 2 else {
            throw DeviceError(.invalidData, "lines: \(text.count) bytes, the display's text registers hold \(map.textRegisters * 2)", device: id)
        }
        _ = try await send(.writeRegister(unit: link.unit, address: map.effectRegister, value: UInt16(content.effectCode)))
        _ = try await send(.writeRegisters(unit: link.unit, address: map.textRegister, values: packRegisters(text, count: Int(map.textRegisters))))
        shown = content
        context?.reportShown(content)
    }

    public func content() async -> DisplayContent? { shown }

    public func healthCheck(_ level: HealthLevel) async throws -> HealthReport {
        HealthReport(device: id, level: level, checks: await checks(level))
    }

    /// Reads the text registers back (for health checks and tests).
    public func readText() async throws -> [UInt8] {
        guard case .registers(let values) = try await send(.readHolding(unit: link.unit, address: map.textRegister, count: map.textRegisters)) else { return [] }
        return values.flatMap { [UInt8($0 >> 8), UInt8($0 & 0xFF)] }
    }
}
