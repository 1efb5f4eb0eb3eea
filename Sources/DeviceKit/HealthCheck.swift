/// The three UnifiedPOS health-check levels.
public enum HealthLevel: String, Sendable, Codable, CaseIterable {
    /// Talk to the device, no motion.
    case `internal`
    /// Print, scan or show a test pattern; beep.
    case external
    /// A person presses every key or confirms the display.
    case interactive
}

/// One line of a health report.
public struct HealthCheckItem: Sendable, Codable, Equatable {
    public var name: String
    public var passed: Bool
    public var detail: String

    public init(_ name: String, passed: Bool, _ detail: String) {
        self.name = name
        self.passed = passed
        self.detail = detail
    }
}

/// What a health check found, with a text a technician can read.
public struct HealthReport: Sendable, Codable, Equatable {
    public var device: DeviceID
    public var level: HealthLevel
    public var passed: Bool
    public var checks: [HealthCheckItem]
    public var text: String

    public init(device: DeviceID, level: HealthLevel, checks: [HealthCheckItem]) {
        self.device = device
        self.level = level
        self.checks = checks
        self.passed = checks.allSatisfy(\.passed)
        let lines = checks.map { "\($0.passed ? "OK  " : "FAIL") \($0.name): \($0.detail)" }
        self.text = "\(device) \(level.rawValue) check \(passed ? "passed" : "FAILED")\n" + lines.joined(separator: "\n")
    }
}
