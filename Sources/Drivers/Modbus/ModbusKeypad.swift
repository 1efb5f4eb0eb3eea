import DeviceKit
import Transports
import WireProtocols

/// An evaluation keypad with Modbus RTU registers: the driver writes 1 to the
/// start register to ask for a rating and polls the result register for the key
/// pressed, which configuration maps to a 好差评 level; it then clears both.
public actor ModbusKeypad: EvaluationKeypad, PolledSerialDevice, SerialLineDevice {
    public nonisolated let id: DeviceID
    public nonisolated let kind = DeviceKind.keypad
    public nonisolated let driver = "modbus"
    public nonisolated let name: String
    let link: ModbusLink
    public nonisolated var serialLine: SerialLine { link.line }
    let map: ModbusRegisterMap
    let keys: [RatingLevel]
    let pollInterval: Duration
    let clock: any Clock<Duration>
    var line: SerialLine { link.line }
    var context: DeviceContext?
    var isOpen = false
    var answering = false
    private var pending: OneShot<RatingLevel>?

    public init(
        id: DeviceID, name: String, line: SerialLine, unit: UInt8, map: ModbusRegisterMap = ModbusRegisterMap(), keys: [RatingLevel] = RatingLevel.allCases,
        timeout: Duration = .milliseconds(300), retries: Int = 2, pollInterval: Duration = .milliseconds(200), clock: any Clock<Duration> = ContinuousClock()
    ) {
        self.id = id
        self.name = name
        self.link = ModbusLink(line: line, unit: unit, timeout: timeout, retries: retries)
        self.map = map
        self.keys = keys
        self.pollInterval = pollInterval
        self.clock = clock
    }

    public func open(context: DeviceContext) async throws -> DeviceOpenInfo {
        try await openAndPoll(context)
        var c = DeviceCapabilities()
        c.keyCount = keys.count
        c.hasScreen = false
        return DeviceOpenInfo(
            identity: DeviceIdentity(model: "Modbus keypad", connection: "\(line.path) unit \(link.unit) (\(line.settings))"), capabilities: c, status: status)
    }

    public func close() async {
        isOpen = false
        pending?.fail(DeviceError(.deviceNotReady, "\(id) was closed", device: id))
    }

    public func run(context: DeviceContext) async { await pollLoop() }

    func portLost(_ error: DeviceError) { pending?.fail(error) }

    private func send(_ request: ModbusRequest) async throws -> ModbusResponse {
        let (link, context) = (link, context)
        return try await guarded { try await link.send(request, context: context) }
    }

    func poll() async throws {
        guard case .registers(let values) = try await send(.readHolding(unit: link.unit, address: map.resultRegister, count: 1)), let key = values.first, key != 0
        else { return }
        _ = try await send(.writeRegister(unit: link.unit, address: map.resultRegister, value: 0))
        guard (1...keys.count).contains(Int(key)) else {
            context?.logger.warning("result register holds key \(key), outside 1...\(keys.count)")
            context?.report(.count(.communicationErrors, 1))
            return
        }
        let level = keys[Int(key) - 1]
        // The evaluation ends on the device before the rating is handed over.
        if pending != nil { _ = try? await send(.writeRegister(unit: link.unit, address: map.startRegister, value: 0)) }
        let rated = pending?.fulfill(level) ?? false
        if rated { pending = nil }
        context?.report(.count(.keyPresses, 1))
        context?.report(.event(type: EventType.keypadKey, data: ["key": .number(Double(key)), "level": .string(level.rawValue), "rated": .bool(rated)]))
    }

    public func requestRating(ticket: String?, timeout: Duration) async throws -> RatingLevel {
        guard isOpen, answering else { throw DeviceError.notReady(id, status) }
        guard pending == nil else { throw DeviceError(.sequenceError, "\(id) is already waiting for a rating", device: id) }
        let answer = OneShot<RatingLevel>()
        pending = answer
        defer { if pending === answer { pending = nil } }
        _ = try await send(.writeRegister(unit: link.unit, address: map.resultRegister, value: 0))
        _ = try await send(.writeRegister(unit: link.unit, address: map.startRegister, value: 1))
        do {
            return try await awaitRating(answer, ticket: ticket, timeout: timeout, clock: clock, context: context)
        } catch let e as DeviceError where e.code == .timeOut {
            _ = try? await send(.writeRegister(unit: link.unit, address: map.startRegister, value: 0))
            throw e
        }
    }

    public func healthCheck(_ level: HealthLevel) async throws -> HealthReport {
        HealthReport(device: id, level: level, checks: await checks(level))
    }
}
