import DeviceKit

/// `driver = "cups"`: a printer behind a CUPS queue.
public struct CupsSettings: Sendable, Equatable {
    public var queue: String
    /// `escpos` (a raw queue to a ticket printer) or `pdf` (an A4 queue).
    public var format = "escpos"
    /// cupsd's socket or host; nil: libcups' default (CUPS_SERVER, client.conf).
    public var server: String?
    public var pollMilliseconds = 2000

    public init(queue: String) { self.queue = queue }
}

extension DriverReader {
    static let cups = DriverReader(driver: "cups", kinds: [.printer]) { t, kind, profiles in
        guard let queue = try t.string("queue"), !queue.isEmpty else { throw t.error("queue", "required: the CUPS queue (lpstat -p lists them)") }
        var cups = CupsSettings(queue: queue)
        cups.format = try t.string("format", oneOf: ["escpos", "pdf"]) ?? cups.format
        cups.server = try t.string("server")
        cups.pollMilliseconds = try t.int("poll_ms", in: 100...60_000) ?? cups.pollMilliseconds
        return .cups(cups)
    }
}
