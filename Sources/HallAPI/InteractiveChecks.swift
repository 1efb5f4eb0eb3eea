import DeviceKit
import Foundation
import HallAPIModels
import Synchronization

/// Interactive health checks, which need a person at the device:
/// - a keypad waits for a key press (the person presses any rating key);
/// - a display shows a test line and waits for a technician's confirmation
///   (`POST /v1/devices/{id}/health/confirm`), then shows again what it showed.
/// Scanners and printers offer none: their external checks already scan or print.
/// Each check announces itself as `health.interactive` (device, what to do, deadline).
public final class InteractiveChecks: Sendable {
    /// How long a person has to press or confirm.
    public let timeout: Duration
    private let pending = Mutex<[DeviceID: OneShot<HealthConfirmation>]>([:])

    public init(timeout: Duration = .seconds(120)) {
        self.timeout = timeout
    }

    /// Whether `kind` offers an interactive check.
    public static func offered(for kind: DeviceKind) -> Bool { kind == .keypad || kind == .display }

    /// The line a display shows for the check: Chinese, Latin and digits, within its columns.
    static func testLines(columns: Int?, lines: Int?) -> [String] {
        let width = columns ?? 16
        let first = String(fitting: "显示测试 TEST", columns: width)
        let second = String(fitting: "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ", columns: width)
        return (lines ?? 1) >= 2 ? [first, second] : [first]
    }

    func run(_ device: any Device, services: APIServices) async throws -> HealthReport {
        guard Self.offered(for: device.kind) else {
            throw APIError(
                .conflict, .unsupportedCommand,
                "an interactive check is offered for keypads and displays only; \(device.id) is a \(device.kind.rawValue): use the external check",
                device: device.id)
        }
        var checks = try await device.healthCheck(.internal).checks
        guard checks.allSatisfy(\.passed) else { return HealthReport(device: device.id, level: .interactive, checks: checks) }
        let deadline = Date().addingTimeInterval(Double(timeout.components.seconds))
        if let keypad = device as? any EvaluationKeypad {
            try await announce(device, "press any rating key on \(device.id)", deadline: deadline, services: services)
            do {
                let level = try await keypad.requestRating(ticket: nil, timeout: timeout)
                checks.append(HealthCheckItem("key press", passed: true, "key \(level.stars) (\(level.label)) received"))
            } catch let e as DeviceError {
                checks.append(HealthCheckItem("key press", passed: false, e.message))
            }
        } else if let display = device as? any QueueDisplay {
            let caps = await services.registry.snapshot(device.id)?.capabilities
            let before = await display.content()
            let lines = Self.testLines(columns: caps?.columns, lines: caps?.lines)
            try await display.show(DisplayContent(lines: lines, effect: .static))
            let answer = OneShot<HealthConfirmation>()
            let replaced = pending.withLock { p in
                defer { p[device.id] = answer }
                return p[device.id]
            }
            replaced?.fail(DeviceError(.canceled, "another interactive check of \(device.id) started", device: device.id))
            defer { pending.withLock { p in if p[device.id] === answer { p[device.id] = nil } } }
            try await announce(device, "confirm that \(device.id) shows: \(lines.joined(separator: " / "))", deadline: deadline, services: services, shown: lines)
            do {
                if let confirmation = try await withDeadline(timeout, clock: ContinuousClock(), { try await answer.wait() }) {
                    let note = confirmation.note.map { ": \($0)" } ?? ""
                    checks.append(
                        HealthCheckItem(
                            "technician confirmation", passed: confirmation.passed,
                            confirmation.passed ? "the test line was seen\(note)" : "the test line was not seen right\(note)"))
                } else {
                    checks.append(HealthCheckItem("technician confirmation", passed: false, "nobody confirmed within \(timeout)"))
                }
            } catch let e as DeviceError {
                checks.append(HealthCheckItem("technician confirmation", passed: false, e.message))
            }
            if let before { try? await display.show(before) }
        }
        return HealthReport(device: device.id, level: .interactive, checks: checks)
    }

    /// A technician's answer to the display check under way; false when none waits.
    func confirm(_ id: DeviceID, _ confirmation: HealthConfirmation) -> Bool {
        guard let answer = pending.withLock({ $0[id] }) else { return false }
        return answer.fulfill(confirmation)
    }

    private func announce(_ device: any Device, _ action: String, deadline: Date, services: APIServices, shown: [String]? = nil) async throws {
        var data: [String: JSONValue] = ["action": .string(action), "deadline": .string(Timestamp.string(deadline))]
        if let shown { data["shown"] = .array(shown.map { .string($0) }) }
        _ = try await services.events.publish(NewEvent(type: EventType.healthInteractive, device: device.id, data: .object(data)))
    }
}

extension String {
    /// The longest prefix of `text` that fits `columns` display columns.
    init(fitting text: String, columns: Int) {
        var out = "", used = 0
        for c in text {
            let w = displayColumns(c)
            if used + w > columns { break }
            out.append(c)
            used += w
        }
        self = out
    }
}
