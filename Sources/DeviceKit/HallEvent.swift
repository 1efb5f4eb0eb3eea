import Foundation

/// An event before the log gave it a sequence number.
public struct NewEvent: Sendable {
    public var type: String
    public var device: DeviceID?
    public var data: JSONValue

    public init(type: String, device: DeviceID? = nil, data: JSONValue = [:]) {
        self.type = type
        self.device = device
        self.data = data
    }
}

/// An event as clients read it: its sequence number grows by one and survives restarts
/// (after a power cut it may skip the numbers of device events lost with it).
public struct HallEvent: Sendable, Codable, Equatable {
    public var seq: Int64
    public var type: String
    /// ISO 8601 with milliseconds, UTC.
    public var time: String
    public var device: DeviceID?
    public var data: JSONValue

    public init(seq: Int64, type: String, time: String, device: DeviceID?, data: JSONValue) {
        self.seq = seq
        self.type = type
        self.time = time
        self.device = device
        self.data = data
    }
}

/// Event type names: one vocabulary for the daemon, the API and hallctl.
public enum EventType {
    public static let deviceAdded = "device.added"
    public static let deviceRemoved = "device.removed"
    public static let deviceStatus = "device.status"
    public static let keypadKey = "keypad.key"
    public static let keypadRating = "keypad.rating"
    /// A window keypad started asking a citizen for a rating (请评价): ticket, window, keypad, deadline.
    public static let ratingRequested = "rating.requested"
    /// A rating the keypad gave could not be stored, after retries: ticket, level, error.
    public static let ratingFailed = "rating.failed"
    /// An interactive health check waits for a person: device, action, deadline (and, for a display, the lines shown).
    public static let healthInteractive = "health.interactive"
    public static let scanPage = "scan.page"
    public static let scanFinished = "scan.finished"
    public static let printJob = "print.job"
    public static let displayContent = "display.content"
    public static let ratingJob = "rating.job"
    /// A speaker started saying an announcement (a call, a recall, a text), finished it,
    /// dropped it because its queue was full, or could not play it.
    public static let announcementStarted = "announcement.started"
    public static let announcementFinished = "announcement.finished"
    public static let announcementDropped = "announcement.dropped"
    public static let announcementFailed = "announcement.failed"
    public static let accessDenied = "access.denied"
    public static let daemonStarted = "daemon.started"
    public static let daemonStopping = "daemon.stopping"
    /// What a device says of itself now: halld asks every device again when it starts,
    /// so the event log commits these without waiting for the disk (their numbers
    /// reserved by a synced commit first): a power cut may lose the last of them, never
    /// a ticket, a rating or any other event, and no number is given twice.
    public static let observations: Set<String> = [deviceStatus, deviceAdded, deviceRemoved]
    /// Sent on the stream only (never stored): the subscriber fell behind.
    public static let lagged = "lagged"
    /// A resume from before the oldest event kept: the events between were trimmed.
    public static let gap = "gap"
}

/// Where events go: the store's event log in the daemon, a recorder in tests.
public protocol EventPublisher: Sendable {
    @discardableResult
    func publish(_ event: NewEvent) async throws -> HallEvent
}

/// Where device counters persist.
public protocol CounterStore: Sendable {
    func loadCounters() async throws -> [DeviceID: DeviceCounters]
    func addCounter(_ device: DeviceID, _ name: CounterName, _ delta: Int64) async throws
}

/// UTC timestamps as the API writes them.
public enum Timestamp {
    /// `2026-11-30T08:05:09.123Z`: what `Date.ISO8601FormatStyle(includingFractionalSeconds:
    /// true)` writes, written directly (every event and every ticket event's times; the
    /// style cost more to make and use than the rest of the event's JSON).
    public static func string(_ date: Date = Date()) -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(24)
        JSONText.appendTime(date, milliseconds: true, to: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }

    /// A time as `string` writes it, or without fractional seconds.
    public static func date(_ raw: String) -> Date? {
        (try? Date.ISO8601FormatStyle(includingFractionalSeconds: true).parse(raw)) ?? (try? Date.ISO8601FormatStyle().parse(raw))
    }
}
