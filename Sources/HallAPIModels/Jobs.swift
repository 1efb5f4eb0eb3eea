public enum JobKind: String, Codable, Sendable, CaseIterable { case scan, print, rating }

public enum JobState: String, Codable, Sendable, CaseIterable {
    case pending, processing, completed, canceled, failed
    public var isFinal: Bool { self == .completed || self == .canceled || self == .failed }
}

/// One page of a scan job, as listed in the job.
public struct ScanPageInfo: Codable, Sendable, Equatable {
    public var n: Int
    public var width: Int
    public var height: Int
    public var bytes: Int
    public var mediaType: String

    public init(n: Int, width: Int, height: Int, bytes: Int, mediaType: String) {
        self.n = n
        self.width = width
        self.height = height
        self.bytes = bytes
        self.mediaType = mediaType
    }
}

/// The result of a rating request.
public struct RatingResult: Codable, Sendable, Equatable {
    public var level: RatingLevel
    public var label: String
    public var stars: Int

    public init(_ level: RatingLevel) {
        self.level = level
        self.label = level.label
        self.stars = level.stars
    }
}

/// A scan, print or rating job: `202` with this body and a `Location`; `GET`
/// reads it; `DELETE` cancels it.
public struct Job: Codable, Sendable, Equatable {
    public var id: String
    public var kind: JobKind
    public var device: DeviceID
    public var state: JobState
    public var createdAt: String
    public var updatedAt: String
    public var error: ErrorResponse.Body?
    // scan
    public var settings: ScanSettings?
    public var pages: [ScanPageInfo]?
    // print
    public var format: String?
    public var title: String?
    public var print: PrintOutcome?
    /// The job this one prints again (`POST /v1/print-jobs/{job}/reprint`).
    public var reprintOf: String?
    // rating
    public var ticket: String?
    public var rating: RatingResult?

    public init(id: String, kind: JobKind, device: DeviceID, state: JobState, createdAt: String) {
        self.id = id
        self.kind = kind
        self.device = device
        self.state = state
        self.createdAt = createdAt
        self.updatedAt = createdAt
    }
}

/// `POST /v1/scanners/{id}/jobs`.
public struct ScanJobRequest: Codable, Sendable, Equatable {
    public var source: ScanSource?
    public var mode: ScanMode?
    public var resolution: Int?
    public var format: String?
    public var maxPages: Int?

    public init(source: ScanSource? = nil, mode: ScanMode? = nil, resolution: Int? = nil, format: String? = nil, maxPages: Int? = nil) {
        self.source = source
        self.mode = mode
        self.resolution = resolution
        self.format = format
        self.maxPages = maxPages
    }
}

/// `POST /v1/keypads/{id}/ratings`.
public struct RatingJobRequest: Codable, Sendable, Equatable {
    public var ticket: String?
    public var timeoutSeconds: Int?

    public init(ticket: String? = nil, timeoutSeconds: Int? = nil) {
        self.ticket = ticket
        self.timeoutSeconds = timeoutSeconds
    }
}

/// The `lagged` event's data: resume with `?since=resumeFrom`.
public struct LaggedEvent: Codable, Sendable, Equatable {
    public var resumeFrom: Int64
    public var message: String
    public init(resumeFrom: Int64, message: String) {
        self.resumeFrom = resumeFrom
        self.message = message
    }
}

/// `event: gap`: a resume asked for events older than the log keeps (trimmed by
/// age); the stream goes on from `firstAvailable`.
public struct GapEvent: Codable, Sendable, Equatable {
    public var requestedAfter: Int64
    public var firstAvailable: Int64
    public var message: String
    public init(requestedAfter: Int64, firstAvailable: Int64, message: String) {
        self.requestedAfter = requestedAfter
        self.firstAvailable = firstAvailable
        self.message = message
    }
}

/// `POST /v1/printers/{id}/jobs` with `{"ticket": {…}}`: a queue ticket the daemon
/// renders in ESC/POS with the printer's template.
public struct TicketPrintRequest: Codable, Sendable, Equatable {
    public var ticket: TicketContent
    public init(ticket: TicketContent) { self.ticket = ticket }
}

/// A ticket's fields. `number` is required; the rest fill the template's
/// placeholders of the same name (`fields` adds any others).
public struct TicketContent: Codable, Sendable, Equatable {
    public var number: String
    public var service: String?
    public var hall: String?
    public var waitingAhead: Int?
    public var time: String?
    public var notice: String?
    public var window: String?
    /// Carried in the QR code; the number when absent.
    public var id: String?
    public var fields: [String: String]?

    public init(
        number: String, service: String? = nil, hall: String? = nil, waitingAhead: Int? = nil, time: String? = nil, notice: String? = nil,
        window: String? = nil, id: String? = nil, fields: [String: String]? = nil
    ) {
        self.number = number
        self.service = service
        self.hall = hall
        self.waitingAhead = waitingAhead
        self.time = time
        self.notice = notice
        self.window = window
        self.id = id
        self.fields = fields
    }

    /// The template's field values.
    public var values: [String: String] {
        var v = fields ?? [:]
        v["number"] = number
        v["id"] = id ?? number
        if let service { v["service"] = service }
        if let hall { v["hall"] = hall }
        if let waitingAhead { v["waitingAhead"] = String(waitingAhead) }
        if let time { v["time"] = time }
        if let notice { v["notice"] = notice }
        if let window { v["window"] = window }
        return v
    }
}
