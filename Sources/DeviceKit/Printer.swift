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

    public init(bytes: Int, pages: Int, deviceJob: String? = nil) {
        self.bytes = bytes
        self.pages = pages
        self.deviceJob = deviceJob
    }
}

public protocol Printer: Device {
    func print(_ document: PrintDocument) async throws -> PrintOutcome
}
