import DeviceKit
import Foundation
import Imaging

/// A sheet-fed scanner whose ADF holds `sheets` sheets each time a job starts (the
/// clerk loads the applicant's stack), and a flatbed with one page. Pages are real
/// PNG or PNM images of a test pattern carrying the page number.
public actor SimulatedScanner: DocumentScanner, SimulatedDevice {
    public nonisolated let id: DeviceID
    public nonisolated let kind = DeviceKind.scanner
    public nonisolated let driver = "simulated"
    public nonisolated let name: String
    let sheets: Int
    var faults: FaultState
    var context: DeviceContext?
    var isOpen = false
    /// Sheets fed so far in the running job: a fault can strike between two.
    private(set) var fed = 0

    public static let resolutions = [75, 100, 150, 200, 300]

    public init(id: DeviceID, name: String, sheets: Int = 5) {
        self.id = id
        self.name = name
        self.sheets = sheets
        self.faults = FaultState(id: id, kind: .scanner)
    }

    public nonisolated var capabilities: DeviceCapabilities {
        var c = DeviceCapabilities()
        c.sources = ScanSource.allCases
        c.modes = ScanMode.allCases
        c.resolutions = Self.resolutions
        c.duplex = true
        c.formats = ImageEncoding.formats + ["pdf"]
        return c
    }

    public func open(context: DeviceContext) async throws -> DeviceOpenInfo {
        try openCommon(context: context)
        return DeviceOpenInfo(identity: identityBase, capabilities: capabilities, status: faults.status)
    }

    public func close() async { isOpen = false }

    public func inject(_ fault: SimulatedFault) async throws { try applyFault(fault) }

    public func scan(_ settings: ScanSettings, page: @Sendable (ScannedPage) async throws -> Void) async throws -> Int {
        try ready()
        guard ImageEncoding.formats.contains(settings.format) else {
            throw DeviceError(.invalidData, "format '\(settings.format)' is not one of \(ImageEncoding.formats.joined(separator: ", "))", device: id)
        }
        guard Self.resolutions.contains(settings.resolution) else {
            throw DeviceError(.invalidData, "resolution \(settings.resolution) is not one of \(Self.resolutions)", device: id)
        }
        var available: Int
        switch settings.source {
        case .flatbed: available = 1
        case .adf: available = faults.active.contains(.paperOut) ? 0 : sheets
        case .adfDuplex: available = faults.active.contains(.paperOut) ? 0 : sheets * 2
        }
        if available == 0 {
            throw DeviceError(.userError, "the feeder of \(id) is empty", device: id, reasons: [Reason.feederEmpty])
        }
        if let maxPages = settings.maxPages { available = min(available, maxPages) }
        context?.report(.count(.scanJobs, 1))
        let pattern = TestPattern(resolution: settings.resolution, mode: settings.mode)
        var done = 0
        for n in 1...max(1, available) {
            // Cancellation and faults are checked between sheets, as a real ADF stops between two.
            if Task.isCancelled { throw DeviceError(.canceled, "scan canceled after \(done) pages", device: id) }
            try ready()
            let samples = pattern.render(page: n)
            let data = try ImageEncoding.encode(samples, width: pattern.width, height: pattern.height, channels: pattern.channels, format: settings.format)
            try await page(ScannedPage(number: n, width: pattern.width, height: pattern.height, mediaType: ImageEncoding.mediaType(settings.format), data: data))
            done = n
            context?.report(.count(.pagesScanned, 1))
        }
        return done
    }

    public func healthCheck(_ level: HealthLevel) async throws -> HealthReport {
        var checks = faults.internalChecks(isOpen: isOpen)
        switch level {
        case .internal: break
        case .external:
            do {
                let first = OneShot<String>()
                _ = try await scan(ScanSettings(source: .flatbed, mode: .gray, resolution: 75, format: "png")) { p in
                    first.fulfill("one page \(p.width)x\(p.height), \(p.data.count) bytes")
                }
                checks.append(HealthCheckItem("test scan", passed: true, try await first.wait()))
            } catch let e as DeviceError {
                checks.append(HealthCheckItem("test scan", passed: false, e.message))
            }
        case .interactive:
            throw DeviceError(.unsupportedCommand, "a simulated scanner has nobody to confirm an interactive check", device: id)
        }
        return HealthReport(device: id, level: level, checks: checks)
    }
}
