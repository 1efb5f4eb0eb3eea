import DeviceKit
import Foundation

/// An evaluation keypad (评价器) with one key per 好差评 level. A test or a
/// technician presses keys with `press`; a key rates only while a request waits,
/// and only once.
public actor SimulatedKeypad: KeyPressable, SimulatedDevice {
    public nonisolated let id: DeviceID
    public nonisolated let kind = DeviceKind.keypad
    public nonisolated let driver = "simulated"
    public nonisolated let name: String
    var faults: FaultState
    var context: DeviceContext?
    var isOpen = false
    private let clock: any Clock<Duration>
    private var pending: (ticket: String?, answer: OneShot<RatingLevel>)?

    public init(id: DeviceID, name: String, clock: any Clock<Duration> = ContinuousClock()) {
        self.id = id
        self.name = name
        self.clock = clock
        self.faults = FaultState(id: id, kind: .keypad)
    }

    public func open(context: DeviceContext) async throws -> DeviceOpenInfo {
        try openCommon(context: context)
        var c = DeviceCapabilities()
        c.keyCount = RatingLevel.allCases.count
        c.hasScreen = false
        return DeviceOpenInfo(identity: identityBase, capabilities: c, status: faults.status)
    }

    public func close() async {
        isOpen = false
        pending?.answer.fail(DeviceError(.deviceNotReady, "\(id) was closed", device: id))
    }

    public func inject(_ fault: SimulatedFault) async throws {
        try applyFault(fault)
        if faults.unplugged {
            pending?.answer.fail(DeviceError(.deviceNotReady, "\(id) was unplugged while waiting for a rating", device: id, reasons: [Reason.deviceAbsent], state: .noDevice))
        }
    }

    /// Whether a rating request is waiting for a key.
    public var isWaiting: Bool { pending != nil }

    public func requestRating(ticket: String?, timeout: Duration) async throws -> RatingLevel {
        try ready()
        guard pending == nil else {
            throw DeviceError(.sequenceError, "\(id) is already waiting for a rating", device: id)
        }
        let answer = OneShot<RatingLevel>()
        pending = (ticket, answer)
        defer { pending = nil }
        context?.logger.info("rating requested", metadata: ["ticket": "\(ticket ?? "-")"])
        return try await awaitRating(answer, ticket: ticket, timeout: timeout, clock: clock, context: context)
    }

    /// A citizen presses the key for `level`. Returns whether it answered a waiting request.
    @discardableResult
    public func press(_ level: RatingLevel) throws -> Bool {
        try ready()
        let rated = pending?.answer.fulfill(level) ?? false
        context?.report(.count(.keyPresses, 1))
        context?.report(.event(type: EventType.keypadKey, data: ["key": .number(Double(level.stars)), "level": .string(level.rawValue), "rated": .bool(rated)]))
        return rated
    }

    public func healthCheck(_ level: HealthLevel) async throws -> HealthReport {
        var checks = faults.internalChecks(isOpen: isOpen)
        switch level {
        case .internal: break
        case .external:
            checks.append(HealthCheckItem("beep", passed: checks.allSatisfy(\.passed), "beep sent"))
        case .interactive:
            do {
                let level = try await requestRating(ticket: nil, timeout: .seconds(30))
                checks.append(HealthCheckItem("key press", passed: true, "key \(level.stars) (\(level.label)) received"))
            } catch let e as DeviceError {
                checks.append(HealthCheckItem("key press", passed: false, e.message))
            }
        }
        return HealthReport(device: id, level: level, checks: checks)
    }
}
