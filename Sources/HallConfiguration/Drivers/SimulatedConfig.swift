import DeviceKit

/// `driver = "simulated"`: sheets in a simulated scanner's feeder, a simulated
/// printer's paper.
public struct SimulatedSettings: Sendable, Equatable {
    /// Scanner: sheets in the ADF per job.
    public var sheets = 5
    /// Printer: `ticket` or `a4`.
    public var paper = "ticket"

    public init(sheets: Int = 5, paper: String = "ticket") {
        self.sheets = sheets
        self.paper = paper
    }
}

extension DriverReader {
    static let simulated = DriverReader(driver: "simulated", kinds: DeviceKind.allCases) { t, kind, profiles in
        var s = SimulatedSettings()
        switch kind {
        case .scanner: s.sheets = try t.int("sheets", in: 1...1000) ?? s.sheets
        case .printer: s.paper = try t.string("paper", oneOf: ["ticket", "a4"]) ?? s.paper
        case .display, .keypad, .speaker: break
        }
        return .simulated(s)
    }
}
