import DeviceKit
import Foundation

/// A queue display that keeps what it shows. Lines are measured in columns with
/// Chinese characters two wide, as on an LED module.
public actor SimulatedDisplay: QueueDisplay, SimulatedDevice {
    public nonisolated let id: DeviceID
    public nonisolated let kind = DeviceKind.display
    public nonisolated let driver = "simulated"
    public nonisolated let name: String
    public nonisolated let lines: Int
    public nonisolated let columns: Int
    var faults: FaultState
    var context: DeviceContext?
    var isOpen = false
    private var shown: DisplayContent?

    public init(id: DeviceID, name: String, lines: Int = 2, columns: Int = 16) {
        self.id = id
        self.name = name
        self.lines = lines
        self.columns = columns
        self.faults = FaultState(id: id, kind: .display)
    }

    public func open(context: DeviceContext) async throws -> DeviceOpenInfo {
        try openCommon(context: context)
        var c = DeviceCapabilities()
        c.lines = lines
        c.columns = columns
        c.encodings = ["UTF-8", "GB2312", "GB18030"]
        c.effects = DisplayEffect.allCases
        return DeviceOpenInfo(identity: identityBase, capabilities: c, status: faults.status)
    }

    public func close() async { isOpen = false }

    public func inject(_ fault: SimulatedFault) async throws { try applyFault(fault) }

    public func show(_ content: DisplayContent) async throws {
        try ready()
        try content.validate(lines: lines, columns: columns, device: id)
        shown = content
        context?.reportShown(content)
    }

    public func content() async -> DisplayContent? { shown }

    public func healthCheck(_ level: HealthLevel) async throws -> HealthReport {
        var checks = faults.internalChecks(isOpen: isOpen)
        switch level {
        case .internal: break
        case .external:
            let previous = shown
            do {
                let pattern = DisplayContent(lines: (0..<lines).map { i in String(String(repeating: i % 2 == 0 ? "测" : "8", count: columns).prefix(i % 2 == 0 ? columns / 2 : columns)) })
                try await show(pattern)
                if let previous { try await show(previous) }
                checks.append(HealthCheckItem("test pattern", passed: true, "shown on \(lines)x\(columns)"))
            } catch let e as DeviceError {
                checks.append(HealthCheckItem("test pattern", passed: false, e.message))
            }
        case .interactive:
            throw DeviceError(.unsupportedCommand, "a simulated display has nobody to confirm an interactive check", device: id)
        }
        return HealthReport(device: id, level: level, checks: checks)
    }
}
