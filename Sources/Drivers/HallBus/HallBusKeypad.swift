import DeviceKit
import Transports
import WireProtocols

/// A hall-bus evaluator (评价器) or window caller on an RS-485 line. It is polled;
/// a rating request sends `01 0B` and the evaluator answers a later poll with
/// command `11` and the index of the key pressed, which configuration maps to a
/// 好差评 level. Caller keys (call, recall, pause, transfer, …) become `keypad.key` events.
public actor HallBusKeypad: EvaluationKeypad, HallBusDevice {
    public nonisolated let id: DeviceID
    public nonisolated let kind = DeviceKind.keypad
    public nonisolated let driver = "hallbus"
    public nonisolated let name: String
    let link: HallBusLink
    /// Key 1 is `keys[0]`, and so on.
    let keys: [RatingLevel]
    let pollInterval: Duration
    let clock: any Clock<Duration>
    var context: DeviceContext?
    var isOpen = false
    var answering = false
    private var pending: OneShot<RatingLevel>?

    public init(
        id: DeviceID, name: String, line: SerialLine, address: UInt8, keys: [RatingLevel] = RatingLevel.allCases, timeout: Duration = .milliseconds(300),
        retries: Int = 2, pollInterval: Duration = .milliseconds(200), clock: any Clock<Duration> = ContinuousClock()
    ) {
        self.id = id
        self.name = name
        self.link = HallBusLink(line: line, address: address, profile: .hallBus, timeout: timeout, retries: retries)
        self.keys = keys
        self.pollInterval = pollInterval
        self.clock = clock
    }

    public func open(context: DeviceContext) async throws -> DeviceOpenInfo {
        try await openAndPoll(context)
        var c = DeviceCapabilities()
        c.keyCount = keys.count
        c.hasScreen = false
        return DeviceOpenInfo(identity: identity, capabilities: c, status: status)
    }

    public func close() async {
        isOpen = false
        pending?.fail(DeviceError(.deviceNotReady, "\(id) was closed", device: id))
    }

    public func run(context: DeviceContext) async { await pollLoop() }

    func portLost(_ error: DeviceError) { pending?.fail(error) }

    func received(_ frame: Frame) {
        guard let command = HallBus.DeviceCommand(rawValue: frame.command) else {
            context?.logger.warning("unknown command \(hex([UInt8(truncatingIfNeeded: frame.command)])) from address \(frame.address): \(frame)")
            context?.report(.count(.communicationErrors, 1))
            return
        }
        switch command {
        case .idle:
            return
        case .evaluation:
            guard let index = frame.payload.first, (1...keys.count).contains(Int(index)) else {
                context?.logger.warning("evaluation answer with key \(hex(frame.payload)) outside 1...\(keys.count)")
                context?.report(.count(.communicationErrors, 1))
                return
            }
            let level = keys[Int(index) - 1]
            // One rating per request: later keys answer nothing until the next request.
            let rated = pending?.fulfill(level) ?? false
            if rated { pending = nil }
            context?.report(.count(.keyPresses, 1))
            context?.report(.event(type: EventType.keypadKey, data: ["key": .number(Double(index)), "level": .string(level.rawValue), "rated": .bool(rated)]))
        default:
            context?.report(.count(.keyPresses, 1))
            context?.report(.event(type: EventType.keypadKey, data: ["key": .string(command.keyName ?? "\(frame.command)"), "rated": false]))
        }
    }

    public func requestRating(ticket: String?, timeout: Duration) async throws -> RatingLevel {
        guard isOpen, answering else { throw DeviceError.notReady(id, status) }
        guard pending == nil else { throw DeviceError(.sequenceError, "\(id) is already waiting for a rating", device: id) }
        let answer = OneShot<RatingLevel>()
        pending = answer
        defer { if pending === answer { pending = nil } }
        _ = try await send(.evaluation, [HallBus.startEvaluation])
        context?.logger.info("rating requested", metadata: ["ticket": "\(ticket ?? "-")"])
        return try await awaitRating(answer, ticket: ticket, timeout: timeout, clock: clock, context: context)
    }

    public func healthCheck(_ level: HealthLevel) async throws -> HealthReport {
        HealthReport(device: id, level: level, checks: await hallBusChecks(level))
    }
}
