import Foundation

/// A document to print, with its format as the API names it.
public struct PrintDocument: Sendable {
    /// `escpos`, `pdf` or `text`.
    public var format: String
    public var data: Data
    public var title: String

    public init(format: String, data: Data, title: String) {
        self.format = format
        self.data = data
        self.title = title
    }

    /// Media types the API accepts as print bodies, by document format.
    public static let mediaTypes: [String: String] = [
        "application/vnd.escpos": "escpos",
        "application/pdf": "pdf",
        "text/plain": "text",
    ]
}

/// What became of a print job on the device.
public struct PrintOutcome: Sendable, Codable, Equatable {
    public var bytes: Int
    public var pages: Int
    /// The printer's own job id, when it has one (CUPS job id).
    public var deviceJob: String?
    /// While the job waits or prints: the printer's own job state (CUPS: pending,
    /// processing, …), its reasons and message, e.g. why a ticket is not out yet.
    public var deviceState: String?
    public var reasons: [String]?
    public var message: String?

    public init(bytes: Int, pages: Int, deviceJob: String? = nil, deviceState: String? = nil, reasons: [String]? = nil, message: String? = nil) {
        self.bytes = bytes
        self.pages = pages
        self.deviceJob = deviceJob
        self.deviceState = deviceState
        self.reasons = reasons
        self.message = message
    }
}

public protocol Printer: Device {
    func print(_ document: PrintDocument) async throws -> PrintOutcome
    /// Prints, telling `progress` what the job is waiting for while it waits.
    func print(_ document: PrintDocument, progress: @escaping @Sendable (PrintOutcome) async -> Void) async throws -> PrintOutcome
    /// Document formats the printer takes (`escpos`, `pdf`, `text`).
    nonisolated var formats: [String] { get }
}

extension Printer {
    public func print(_ document: PrintDocument, progress: @escaping @Sendable (PrintOutcome) async -> Void) async throws -> PrintOutcome {
        try await print(document)
    }
}
