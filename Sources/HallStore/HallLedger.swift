import Foundation
import GRDB

/// A ticket row. Times are seconds since 1970.
public struct TicketRecord: Codable, FetchableRecord, PersistableRecord, Sendable, Equatable {
    public static let databaseTableName = "ticket"
    public var id: String
    public var day: String
    public var service: String
    public var seq: Int
    public var number: String
    public var priority: String
    public var appointment: String?
    public var slot: Double?
    public var state: String
    public var issued_at: Double
    public var queued_at: Double
    public var called_at: Double?
    public var finished_at: Double?
    public var window: Int?
    public var clerk: String?
    public var recalls: Int
    public var transferred_from: String?
    public var print_job: String?
    public var print_error: String?
    /// The service the number was issued for (numbers are unique per it and day).
    public var issue_service: String

    public init(
        id: String, day: String, service: String, seq: Int, number: String, priority: String, appointment: String?, slot: Double?, state: String,
        issued_at: Double, queued_at: Double, called_at: Double? = nil, finished_at: Double? = nil, window: Int? = nil, clerk: String? = nil, recalls: Int = 0,
        transferred_from: String? = nil, print_job: String? = nil, print_error: String? = nil, issue_service: String
    ) {
        self.id = id
        self.day = day
        self.service = service
        self.seq = seq
        self.number = number
        self.priority = priority
        self.appointment = appointment
        self.slot = slot
        self.state = state
        self.issued_at = issued_at
        self.queued_at = queued_at
        self.called_at = called_at
        self.finished_at = finished_at
        self.window = window
        self.clerk = clerk
        self.recalls = recalls
        self.transferred_from = transferred_from
        self.print_job = print_job
        self.print_error = print_error
        self.issue_service = issue_service
    }
}

public struct RatingRecord: Codable, FetchableRecord, PersistableRecord, Sendable, Equatable {
    public static let databaseTableName = "rating"
    public var ticket: String
    public var number: String
    public var service: String
    public var window: Int
    public var clerk: String?
    public var level: String?
    public var time: Double
    public var channel: String

    public init(ticket: String, number: String, service: String, window: Int, clerk: String?, level: String?, time: Double, channel: String) {
        self.ticket = ticket
        self.number = number
        self.service = service
        self.window = window
        self.clerk = clerk
        self.level = level
        self.time = time
        self.channel = channel
    }
}

public struct WindowRecord: Codable, FetchableRecord, PersistableRecord, Sendable, Equatable {
    public static let databaseTableName = "hall_window"
    public var number: Int
    public var state: String
    /// JSON of the away notice and the clerk card.
    public var away: String?
    public var clerk: String?
    public var current: String?

    public init(number: Int, state: String, away: String?, clerk: String?, current: String?) {
        self.number = number
        self.state = state
        self.away = away
        self.clerk = clerk
        self.current = current
    }
}

public struct AppointmentRecord: Codable, FetchableRecord, PersistableRecord, Sendable, Equatable {
    public static let databaseTableName = "appointment"
    public var code: String
    public var service: String
    public var slot: Double
    public var ticket: String?

    public init(code: String, service: String, slot: Double, ticket: String? = nil) {
        self.code = code
        self.service = service
        self.slot = slot
        self.ticket = ticket
    }
}

/// Why a ledger write was refused.
public enum LedgerError: Error, Sendable, Equatable {
    /// The ticket already has a rating.
    case alreadyRated
    case dailyCapReached(Int)
    case unknownAppointment
    case appointmentUsed(ticket: String)
}

/// The hall's tickets, ratings and windows. Each write is one transaction on the
/// database's writer (WAL, synchronous=FULL): when it returns, it is on disk.
extension HallDatabase {
    /// Issues the next number of `service` for `day` and stores the ticket, in one
    /// transaction: two issues never get the same number, and a crash after the
    /// call returned loses nothing.
    public func issueTicket(
        day: String, service: String, prefix: String, priority: String, appointment: String?, at now: Double, dailyCap: Int?, id: String
    ) async throws -> TicketRecord {
        try await writer.write { db in
            var slot: Double?
            if let code = appointment {
                guard var a = try AppointmentRecord.fetchOne(db, key: code), a.service == service else { throw LedgerError.unknownAppointment }
                if let used = a.ticket { throw LedgerError.appointmentUsed(ticket: used) }
                slot = a.slot
                a.ticket = id
                try a.update(db)
            }
            let last = try Int.fetchOne(db, sql: "SELECT MAX(seq) FROM ticket WHERE day = ? AND issue_service = ?", arguments: [day, service]) ?? 0
            if let cap = dailyCap, last >= cap { throw LedgerError.dailyCapReached(cap) }
            let seq = last + 1
            let record = TicketRecord(
                id: id, day: day, service: service, seq: seq, number: prefix + String(format: "%03d", seq), priority: priority, appointment: appointment,
                slot: slot, state: "waiting", issued_at: now, queued_at: now, issue_service: service)
            try record.insert(db)
            return record
        }
    }

    public func saveTicket(_ t: TicketRecord) async throws {
        try await writer.write { db in try t.update(db) }
    }

    public func tickets(day: String) async throws -> [TicketRecord] {
        try await writer.read { db in try TicketRecord.filter(Column("day") == day).order(Column("issued_at"), Column("id")).fetchAll(db) }
    }

    public func ticket(_ id: String) async throws -> TicketRecord? {
        try await writer.read { db in try TicketRecord.fetchOne(db, key: id) }
    }

    /// Stores the one rating of a ticket; a second is refused (`alreadyRated`).
    public func saveRating(_ r: RatingRecord) async throws {
        try await writer.write { db in
            if try RatingRecord.fetchOne(db, key: r.ticket) != nil { throw LedgerError.alreadyRated }
            try r.insert(db)
        }
    }

    public func ratings(from: Double, to: Double, window: Int?) async throws -> [RatingRecord] {
        try await writer.read { db in
            var q = RatingRecord.filter(Column("time") >= from && Column("time") < to)
            if let window { q = q.filter(Column("window") == window) }
            return try q.order(Column("time")).fetchAll(db)
        }
    }

    /// The ratings of one day's tickets, in one read.
    public func ratings(day: String) async throws -> [RatingRecord] {
        try await writer.read { db in
            try RatingRecord.fetchAll(
                db, sql: "SELECT rating.* FROM rating JOIN ticket ON ticket.id = rating.ticket WHERE ticket.day = ? ORDER BY rating.time", arguments: [day])
        }
    }

    public func saveWindow(_ w: WindowRecord) async throws {
        try await writer.write { db in try w.save(db) }
    }

    public func windows() async throws -> [WindowRecord] {
        try await writer.read { db in try WindowRecord.fetchAll(db) }
    }

    public func saveAppointment(_ a: AppointmentRecord) async throws {
        try await writer.write { db in try a.save(db) }
    }
}
