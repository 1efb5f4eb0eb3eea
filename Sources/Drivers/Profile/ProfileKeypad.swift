import DeviceKit
import Transports
import WireProtocols

/// An evaluator (评价器) or window caller on a serial line, in any frame profile
/// (hall-bus by default). It is polled; a rating request sends the evaluate
/// command (hall-bus `01 0B`) and the evaluator answers a later poll with the
/// rating command (hall-bus `11`) and the index of the key pressed, which
/// configuration maps to a 好差评 level. Caller keys (call, recall, pause,
/// transfer, …) become `keypad.key` events.
public actor ProfileKeypad: EvaluationKeypad, FramedDevice, SerialLineDevice {
    public nonisolated let id: DeviceID
    public nonisolated let kind = DeviceKind.keypad
    public nonisolated let driver: String
    public nonisolated let name: String
    let link: FrameLink
    public nonisolated var serialLine: SerialLine { link.line }
    /// Key 1 is `keys[0]`, and so on.
    let keys: [RatingLevel]
    let pollInterval: Duration
    let clock: any Clock<Duration>
    var context: DeviceContext?
    var isOpen = false
    var answering = false
    private var pending: OneShot<RatingLevel>?

    public init(
        id: DeviceID, name: String, link: FrameLink, keys: [RatingLevel] = RatingLevel.allCases, pollInterval: Duration = .milliseconds(200),
        clock: any Clock<Duration> = ContinuousClock()
    ) {
        self.id = id
        self.name = name
        self.driver = link.driver
        self.link = link
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
        let commands = link.commands
        if frame.command == commands.idle { return }
        if frame.command == commands.rating {
            guard let index = frame.payload.first, (1...keys.count).contains(Int(index)) else {
                context?.logger.warning("rating answer with key \(hex(frame.payload)) outside 1...\(keys.count)")
                context?.report(.count(.communicationErrors, 1))
                return
            }
            let level = keys[Int(index) - 1]
            // One rating per request: later keys answer nothing until the next request.
            let rated = pending?.fulfill(level) ?? false
            if rated { pending = nil }
            context?.report(.count(.keyPresses, 1))
            context?.report(.event(type: EventType.keypadKey, data: ["key": .number(Double(index)), "level": .string(level.rawValue), "rated": .bool(rated)]))
            return
        }
        guard let key = commands.keyName(frame.command) else {
            context?.logger.warning("unknown command \(frame.command) from address \(frame.address): \(frame)")
            context?.report(.count(.communicationErrors, 1))
            return
        }
        context?.report(.count(.keyPresses, 1))
        context?.report(.event(type: EventType.keypadKey, data: ["key": .string(key), "rated": false]))
    }

    public func requestRating(ticket: String?, timeout: Duration) async throws -> RatingLevel {
        guard isOpen, answering else { throw DeviceError.notReady(id, status) }
        guard pending == nil else { throw DeviceError(.sequenceError, "\(id) is already waiting for a rating", device: id) }
        let answer = OneShot<RatingLevel>()
        pending = answer
        defer { if pending === answer { pending = nil } }
        _ = try await send(link.commands.evaluate, link.commands.evaluateData)
        context?.logger.info("rating requested", metadata: ["ticket": "\(ticket ?? "-")"])
        return try await awaitRating(answer, ticket: ticket, timeout: timeout, clock: clock, context: context)
    }

    public func healthCheck(_ level: HealthLevel) async throws -> HealthReport {
        HealthReport(device: id, level: level, checks: await framedChecks(level))
    }
}
