import Foundation

public enum ScanSource: String, Sendable, Codable, CaseIterable { case flatbed, adf, adfDuplex }
public enum ScanMode: String, Sendable, Codable, CaseIterable { case color, gray, lineart }

/// What a scan job asks for. Validated against the scanner's capabilities before
/// the job starts.
public struct ScanSettings: Sendable, Codable, Equatable {
    public var source: ScanSource
    public var mode: ScanMode
    public var resolution: Int
    public var format: String
    public var maxPages: Int?

    public init(source: ScanSource = .adf, mode: ScanMode = .color, resolution: Int = 300, format: String = "png", maxPages: Int? = nil) {
        self.source = source
        self.mode = mode
        self.resolution = resolution
        self.format = format
        self.maxPages = maxPages
    }
}

/// One page as the scanner delivered it, encoded in the job's format.
public struct ScannedPage: Sendable {
    public var number: Int
    public var width: Int
    public var height: Int
    public var mediaType: String
    public var data: Data

    public init(number: Int, width: Int, height: Int, mediaType: String, data: Data) {
        self.number = number
        self.width = width
        self.height = height
        self.mediaType = mediaType
        self.data = data
    }
}

/// A document scanner. `scan` delivers each page to `page` as soon as it is
/// encoded and returns when the feeder is empty, `maxPages` is reached, or the
/// task is cancelled (throwing `canceled`).
public protocol DocumentScanner: Device {
    func scan(_ settings: ScanSettings, page: @Sendable (ScannedPage) async throws -> Void) async throws -> Int
}
