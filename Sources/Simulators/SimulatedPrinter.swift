import DeviceKit
import Foundation

/// A printer that keeps the bytes of every job it printed, in order.
public actor SimulatedPrinter: Printer, SimulatedDevice {
    public nonisolated let id: DeviceID
    public nonisolated let kind = DeviceKind.printer
    public nonisolated let driver = "simulated"
    public nonisolated let name: String
    /// `ticket` (ESC/POS) or `a4`.
    public nonisolated let paper: String
    var faults: FaultState
    var context: DeviceContext?
    var isOpen = false
    public private(set) var printed: [PrintDocument] = []

    public init(id: DeviceID, name: String, paper: String = "ticket") {
        self.id = id
        self.name = name
        self.paper = paper
        self.faults = FaultState(id: id, kind: .printer)
    }

    public nonisolated var formats: [String] { paper == "ticket" ? ["escpos", "text"] : ["pdf", "text"] }

    public func open(context: DeviceContext) async throws -> DeviceOpenInfo {
        try openCommon(context: context)
        var c = DeviceCapabilities()
        c.paper = paper
        c.formats = formats
        return DeviceOpenInfo(identity: identityBase, capabilities: c, status: faults.status)
    }

    public func close() async { isOpen = false }

    public func inject(_ fault: SimulatedFault) async throws { try applyFault(fault) }

    public func print(_ document: PrintDocument) async throws -> PrintOutcome {
        try ready()
        guard formats.contains(document.format) else {
            throw DeviceError(.invalidData, "\(id) takes \(formats.joined(separator: ", ")), not \(document.format)", device: id)
        }
        printed.append(document)
        let pages = Self.pageCount(document)
        context?.report(.count(.printJobs, 1))
        context?.report(.count(.pagesPrinted, Int64(pages)))
        return PrintOutcome(bytes: document.data.count, pages: pages, deviceJob: "sim-\(printed.count)")
    }

    /// Pages as a printer counts them: tickets by their cuts (GS V), PDF by its
    /// page objects, text by 66-line pages.
    static func pageCount(_ document: PrintDocument) -> Int {
        let bytes = [UInt8](document.data)
        func occurrences(_ needle: [UInt8]) -> Int {
            guard bytes.count >= needle.count else { return 0 }
            var n = 0
            for i in 0...(bytes.count - needle.count) where bytes[i] == needle[0] && Array(bytes[i..<i + needle.count]) == needle { n += 1 }
            return n
        }
        switch document.format {
        case "escpos": return max(1, occurrences([0x1D, 0x56]))
        case "pdf":
            let text = String(decoding: bytes, as: Unicode.ASCII.self)
            return max(1, text.matches(of: /\/Type\s*\/Page(?!s)/).count)
        default: return max(1, (bytes.filter { $0 == 0x0A }.count + 65) / 66)
        }
    }

    public func healthCheck(_ level: HealthLevel) async throws -> HealthReport {
        var checks = faults.internalChecks(isOpen: isOpen)
        switch level {
        case .internal: break
        case .external:
            let test = PrintDocument(format: "text", data: Data("halld test page\n打印测试 \(Timestamp.string())\n".utf8), title: "test page")
            do {
                let outcome = try await print(test)
                checks.append(HealthCheckItem("test page", passed: true, "printed \(outcome.bytes) bytes"))
            } catch let e as DeviceError {
                checks.append(HealthCheckItem("test page", passed: false, e.message))
            }
        case .interactive:
            throw DeviceError(.unsupportedCommand, "a simulated printer has nobody to confirm an interactive check", device: id)
        }
        return HealthReport(device: id, level: level, checks: checks)
    }
}
