import Foundation
import GRDB
import DeviceKit
import HallModel

/// A ticket row. Times are seconds since 1970.
struct TicketRecord: Codable, FetchableRecord, PersistableRecord, Sendable, Equatable {
    static let databaseTableName = "ticket"
    var id: String
    var day: String
    var service: String
    var seq: Int
    var number: String
    var priority: String
    var appointment: String?
    var slot: Double?
    var state: String
    var issued_at: Double
    var queued_at: Double
    var called_at: Double?
    var finished_at: Double?
    var window: Int?
    var clerk: String?
    var staff_id: String?
    var recalls: Int
    var transferred_from: String?
    var print_job: String?
    var print_error: String?
    /// The service the number was issued for (numbers are unique per it and day).
    var issue_service: String
    /// JSON array of the promises it went past.
    var overdue: String?

    init(
        id: String, day: String, service: String, seq: Int, number: String, priority: String, appointment: String?, slot: Double?, state: String,
        issued_at: Double, queued_at: Double, called_at: Double? = nil, finished_at: Double? = nil, window: Int? = nil, clerk: String? = nil, recalls: Int = 0,
        transferred_from: String? = nil, print_job: String? = nil, print_error: String? = nil, issue_service: String, staff_id: String? = nil,
        overdue: String? = nil
    ) {
        self.overdue = overdue
        self.staff_id = staff_id
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

struct RatingRecord: Codable, FetchableRecord, PersistableRecord, Sendable, Equatable {
    static let databaseTableName = "rating"
    var ticket: String
    var number: String
    var service: String
    var window: Int
    var clerk: String?
    var staff_id: String?
    var level: String?
    var time: Double
    var channel: String

    init(ticket: String, number: String, service: String, window: Int, clerk: String?, level: String?, time: Double, channel: String, staff_id: String? = nil) {
        self.staff_id = staff_id
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

struct WindowRecord: Codable, FetchableRecord, PersistableRecord, Sendable, Equatable {
    static let databaseTableName = "hall_window"
    var number: Int
    var state: String
    /// JSON of the away notice and the clerk card.
    var away: String?
    var clerk: String?
    var current: String?

    init(number: Int, state: String, away: String?, clerk: String?, current: String?) {
        self.number = number
        self.state = state
        self.away = away
        self.clerk = clerk
        self.current = current
    }
}

struct AppointmentRecord: Codable, FetchableRecord, PersistableRecord, Sendable, Equatable {
    static let databaseTableName = "appointment"
    var code: String
    var service: String
    var slot: Double
    var ticket: String?
    var state: String
    /// The whole appointment as JSON (nil in rows from before v9: booked or checked in, nothing more).
    var data: String?

    init(_ a: Appointment) throws {
        code = a.code
        service = a.service
        slot = a.slot.timeIntervalSince1970
        ticket = a.ticket
        state = a.state.rawValue
        data = String(decoding: try JSONEncoder().encode(a), as: UTF8.self)
    }

    /// The appointment; the columns (ticket, state) are what a check-in changes.
    var appointment: Appointment {
        var a = data.flatMap { try? JSONDecoder().decode(Appointment.self, from: Data($0.utf8)) }
            ?? Appointment(code: code, service: service, slot: Date(timeIntervalSince1970: slot))
        a.ticket = ticket
        a.state = Appointment.State(rawValue: state) ?? (ticket == nil ? .booked : .checkedIn)
        return a
    }
}

/// The hall's tickets, ratings, windows and appointments in SQLite: the single-PC
/// hall store. Each write is one transaction on the database's writer (WAL,
/// synchronous=FULL): when it returns, it is on disk.
extension HallDatabase: HallStore {
    public func issueTicket(_ new: NewTicket) async throws -> Ticket {
        try await writer.write { db in try Self.insertTicket(db, new).ticket }
    }

    /// Numbers and inserts a ticket (and checks its appointment in), inside the caller's transaction.
    static func insertTicket(_ db: Database, _ new: NewTicket) throws -> TicketRecord {
        var slot: Double?
        if let code = new.appointment {
            guard var a = try AppointmentRecord.fetchOne(db, key: code), a.service == new.service else { throw HallStoreError.unknownAppointment }
            if let used = a.ticket { throw HallStoreError.appointmentUsed(ticket: used) }
            guard a.state == Appointment.State.booked.rawValue else { throw HallStoreError.appointmentClosed(a.appointment.state) }
            slot = a.slot
            a.ticket = new.id
            a.state = Appointment.State.checkedIn.rawValue
            try a.update(db)
        }
        // Statements prepared once per connection (GRDB's cache) and bound through
        // SQLite's C API (`PreparedRow`): preparing them again for every issue, and
        // encoding the record through Codable, was a fifth of it.
        let max = try PreparedRow(db, sql: issueStatements.lastNumber)
        try max.bind(1, new.day)
        try max.bind(2, new.service)
        let last = Int(try max.int64() ?? 0)
        if let cap = new.dailyCap, last >= cap { throw HallStoreError.dailyCapReached(cap) }
        let seq = last + 1
        let at = new.at.timeIntervalSince1970
        let record = TicketRecord(
            id: new.id, day: new.day, service: new.service, seq: seq, number: Ticket.number(prefix: new.service, seq: seq), priority: new.priority.rawValue,
            appointment: new.appointment, slot: slot, state: TicketState.waiting.rawValue, issued_at: at, queued_at: at, issue_service: new.service)
        let insert = try PreparedRow(db, sql: issueStatements.ticket)
        try insert.bind(1, record.id)
        try insert.bind(2, record.day)
        try insert.bind(3, record.service)
        try insert.bind(4, record.seq)
        try insert.bind(5, record.number)
        try insert.bind(6, record.priority)
        try insert.bind(7, record.appointment)
        try insert.bind(8, record.slot)
        try insert.bind(9, record.state)
        try insert.bind(10, record.issued_at)
        try insert.bind(11, record.queued_at)
        try insert.bind(12, record.issue_service)
        try insert.run()
        return record
    }

    /// The statements an issue runs in its transaction, in order: the service's last
    /// number today (day, service), the ticket (id, day, service, number in the day,
    /// number as shown, priority, appointment, slot, state, issued and queued at,
    /// issuing service), and its event (type, device, time, data). Public for
    /// hall-bench, which runs them through SQLite's C API to show what an issue costs
    /// SQLite alone.
    public static let issueStatements = (
        lastNumber: "SELECT MAX(seq) FROM ticket WHERE day = ? AND issue_service = ?",
        ticket: """
            INSERT INTO ticket (id, day, service, seq, number, priority, appointment, slot, state, issued_at, queued_at, recalls, issue_service)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?)
            """,
        event: insertEventSQL)

    public func updateTicket(_ t: Ticket, from previous: TicketState) async throws {
        let base = TicketRecord(t)
        try await writer.write { db in
            var record = base
            let row = try Row.fetchOne(db, sql: "SELECT state, overdue FROM ticket WHERE id = ?", arguments: [t.id])
            let now: String? = row?["state"]
            guard now == previous.rawValue else { throw HallStoreError.stateChanged(now: now.flatMap(TicketState.init(rawValue:))) }
            record.overdue = row?["overdue"]
            try record.update(db)
        }
    }

    public func markOverdue(ticket id: String, limit: String) async throws -> Bool {
        try await writer.write { db in
            let stored = try String.fetchOne(db, sql: "SELECT overdue FROM ticket WHERE id = ?", arguments: [id])
            var limits = stored.flatMap { try? JSONDecoder().decode([String].self, from: Data($0.utf8)) } ?? []
            guard !limits.contains(limit) else { return false }
            limits.append(limit)
            try db.execute(sql: "UPDATE ticket SET overdue = ? WHERE id = ?", arguments: [String(decoding: try JSONEncoder().encode(limits), as: UTF8.self), id])
            return db.changesCount > 0
        }
    }

    public func tickets(day: String) async throws -> [Ticket] {
        try await writer.read { db in try TicketRecord.filter(Column("day") == day).order(Column("issued_at"), Column("id")).fetchAll(db) }.map(\.ticket)
    }

    public func saveRating(_ r: Rating) async throws {
        try await writer.write { db in
            if try RatingRecord.fetchOne(db, key: r.ticket) != nil { throw HallStoreError.alreadyRated }
            try RatingRecord(r).insert(db)
        }
    }

    public func ratings(from: Date, to: Date, window: Int?) async throws -> [Rating] {
        let (from, to) = (from.timeIntervalSince1970, to.timeIntervalSince1970)
        return try await writer.read { db in
            var q = RatingRecord.filter(Column("time") >= from && Column("time") < to)
            if let window { q = q.filter(Column("window") == window) }
            return try q.order(Column("time")).fetchAll(db)
        }.map(\.rating)
    }

    public func ratings(day: String) async throws -> [Rating] {
        try await writer.read { db in
            try RatingRecord.fetchAll(
                db, sql: "SELECT rating.* FROM rating JOIN ticket ON ticket.id = rating.ticket WHERE ticket.day = ? ORDER BY rating.time", arguments: [day])
        }.map(\.rating)
    }

    public func saveWindow(_ w: StoredWindow) async throws {
        let record = WindowRecord(w)
        try await writer.write { db in try record.save(db) }
    }

    public func windows() async throws -> [StoredWindow] {
        try await writer.read { db in try WindowRecord.fetchAll(db) }.map(\.window)
    }

    public func addAppointment(_ a: Appointment) async throws {
        let record = try AppointmentRecord(a)
        try await writer.write { db in
            if try AppointmentRecord.fetchOne(db, key: a.code) != nil { throw HallStoreError.appointmentExists }
            try record.insert(db)
        }
    }

    public func updateAppointment(_ a: Appointment, from previous: Appointment.State) async throws {
        let record = try AppointmentRecord(a)
        try await writer.write { db in
            let now = try AppointmentRecord.fetchOne(db, key: a.code)?.appointment.state
            guard now == previous else { throw HallStoreError.appointmentChanged(now: now) }
            try record.update(db)
        }
    }

    public func appointment(_ code: String) async throws -> Appointment? {
        try await writer.read { db in try AppointmentRecord.fetchOne(db, key: code) }?.appointment
    }

    public func appointments(from: Date, to: Date) async throws -> [Appointment] {
        try await writer.read { db in
            try AppointmentRecord.filter(Column("slot") >= from.timeIntervalSince1970 && Column("slot") < to.timeIntervalSince1970).order(Column("slot"), Column("code"))
                .fetchAll(db)
        }.map(\.appointment)
    }

    public func saveNotice(_ n: Notice) async throws {
        let data = String(decoding: try JSONEncoder().encode(n), as: UTF8.self)
        try await writer.write { db in
            try db.execute(
                sql: "INSERT INTO notice (id, ticket, at, data) VALUES (?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET data = excluded.data",
                arguments: [n.id, n.ticket, n.at.timeIntervalSince1970, data])
        }
    }

    public func notices(ticket: String) async throws -> [Notice] {
        let rows = try await writer.read { db in try String.fetchAll(db, sql: "SELECT data FROM notice WHERE ticket = ? ORDER BY at, id", arguments: [ticket]) }
        return try rows.map { try JSONDecoder().decode(Notice.self, from: Data($0.utf8)) }
    }

    public func saveClerk(_ clerk: Clerk) async throws {
        let data = String(decoding: try JSONEncoder().encode(clerk), as: UTF8.self)
        try await writer.write { db in
            try db.execute(sql: "INSERT INTO clerk (staff_id, data) VALUES (?, ?) ON CONFLICT (staff_id) DO UPDATE SET data = excluded.data", arguments: [clerk.staffId, data])
        }
    }

    public func saveLedgerEntry(_ entry: LedgerEntry) async throws {
        let data = String(decoding: try JSONEncoder().encode(entry), as: UTF8.self)
        try await writer.write { db in
            try db.execute(
                sql: "INSERT INTO ledger (id, at, data) VALUES (?, ?, ?) ON CONFLICT (id) DO UPDATE SET data = excluded.data",
                arguments: [entry.id, entry.at.timeIntervalSince1970, data])
        }
    }

    public func ledger(from: Date, to: Date) async throws -> [LedgerEntry] {
        let rows = try await writer.read { db in
            try String.fetchAll(db, sql: "SELECT data FROM ledger WHERE at >= ? AND at < ? ORDER BY at, id", arguments: [from.timeIntervalSince1970, to.timeIntervalSince1970])
        }
        return try rows.map { try JSONDecoder().decode(LedgerEntry.self, from: Data($0.utf8)) }
    }

    public func ledgerEntry(_ id: String) async throws -> LedgerEntry? {
        let row = try await writer.read { db in try String.fetchOne(db, sql: "SELECT data FROM ledger WHERE id = ?", arguments: [id]) }
        return try row.map { try JSONDecoder().decode(LedgerEntry.self, from: Data($0.utf8)) }
    }

    public func saveFollowUp(_ f: FollowUp) async throws {
        let data = String(decoding: try JSONEncoder().encode(f), as: UTF8.self)
        try await writer.write { db in
            try db.execute(
                sql: "INSERT INTO follow_up (id, rated_at, data) VALUES (?, ?, ?) ON CONFLICT (id) DO UPDATE SET data = excluded.data",
                arguments: [f.id, f.ratedAt.timeIntervalSince1970, data])
        }
    }

    public func followUps() async throws -> [FollowUp] {
        let rows = try await writer.read { db in try String.fetchAll(db, sql: "SELECT data FROM follow_up ORDER BY rated_at, id") }
        return try rows.map { try JSONDecoder().decode(FollowUp.self, from: Data($0.utf8)) }
    }

    public func saveReferral(_ r: Referral) async throws {
        let data = String(decoding: try JSONEncoder().encode(r), as: UTF8.self)
        try await writer.write { db in
            try db.execute(sql: "INSERT INTO referral (id, at, data) VALUES (?, ?, ?)", arguments: [r.id, r.at.timeIntervalSince1970, data])
        }
    }

    public func referrals(from: Date, to: Date) async throws -> [Referral] {
        let rows = try await writer.read { db in
            try String.fetchAll(db, sql: "SELECT data FROM referral WHERE at >= ? AND at < ? ORDER BY at, id", arguments: [from.timeIntervalSince1970, to.timeIntervalSince1970])
        }
        return try rows.map { try JSONDecoder().decode(Referral.self, from: Data($0.utf8)) }
    }

    public func clerks() async throws -> [Clerk] {
        let rows = try await writer.read { db in try String.fetchAll(db, sql: "SELECT data FROM clerk ORDER BY staff_id") }
        return try rows.map { try JSONDecoder().decode(Clerk.self, from: Data($0.utf8)) }
    }
}

extension HallDatabase: TicketEventStore {
    public func issueTicket(
        _ new: NewTicket, event: @escaping @Sendable (Ticket) throws -> NewEvent, time: String, committed: @escaping @Sendable (HallEvent) -> Void
    ) async throws -> (Ticket, HallEvent) {
        // As appendEvent: `committed` runs after the commit, still on the serial writer,
        // so events reach subscribers in sequence order.
        try await writer.writeWithoutTransaction { db in
            var result: (Ticket, HallEvent)?
            try Self.transaction(db) {
                let ticket = try Self.insertTicket(db, new).ticket
                let e = try event(ticket)
                let seq = try Self.insertEvent(db, type: e.type, device: e.device?.rawValue, time: time, data: try JSONText.string(e.data))
                result = (ticket, HallEvent(seq: seq, type: e.type, time: time, device: e.device, data: e.data))
            }
            committed(result!.1)
            return result!
        }
    }
}

// Rows and the hall's values: times are seconds since 1970 in the database; the away
// notice and the clerk card are JSON.
extension TicketRecord {
    init(_ t: Ticket) {
        self.init(
            id: t.id, day: t.day, service: t.service, seq: t.sequence, number: t.number, priority: t.priority.rawValue,
            appointment: t.appointment, slot: t.slot?.timeIntervalSince1970, state: t.state.rawValue, issued_at: t.issuedAt.timeIntervalSince1970,
            queued_at: t.queuedAt.timeIntervalSince1970, called_at: t.calledAt?.timeIntervalSince1970, finished_at: t.finishedAt?.timeIntervalSince1970,
            window: t.window, clerk: t.clerk, recalls: t.recalls, transferred_from: t.transferredFrom, print_job: t.printJob, print_error: t.printError,
            issue_service: t.issueService, staff_id: t.staffId,
            overdue: t.overdue.map { String(decoding: (try? JSONEncoder().encode($0)) ?? Data("[]".utf8), as: UTF8.self) })
    }

    var ticket: Ticket {
        Ticket(
            id: id, number: number, service: service, day: day, priority: TicketPriority(rawValue: priority) ?? .normal, appointment: appointment,
            slot: slot.map(Date.init(timeIntervalSince1970:)), state: TicketState(rawValue: state) ?? .waiting,
            issuedAt: Date(timeIntervalSince1970: issued_at), queuedAt: Date(timeIntervalSince1970: queued_at),
            calledAt: called_at.map(Date.init(timeIntervalSince1970:)), finishedAt: finished_at.map(Date.init(timeIntervalSince1970:)), window: window,
            clerk: clerk, recalls: recalls, transferredFrom: transferred_from, printJob: print_job, printError: print_error, waitingAhead: nil,
            staffId: staff_id, overdue: overdue.flatMap { try? JSONDecoder().decode([String].self, from: Data($0.utf8)) })
    }
}

extension RatingRecord {
    init(_ r: Rating) {
        self.init(
            ticket: r.ticket, number: r.number, service: r.service, window: r.window, clerk: r.clerk, level: r.level?.rawValue,
            time: r.time.timeIntervalSince1970, channel: r.channel, staff_id: r.staffId)
    }

    var rating: Rating {
        let level = level.flatMap(RatingLevel.init(rawValue:))
        return Rating(
            ticket: ticket, number: number, service: service, window: window, clerk: clerk, level: level, stars: level?.stars,
            time: Date(timeIntervalSince1970: time), channel: channel, staffId: staff_id)
    }
}

extension WindowRecord {
    init(_ w: StoredWindow) {
        let encoder = JSONEncoder()
        self.init(
            number: w.number, state: w.state.rawValue, away: w.away.flatMap { try? String(decoding: encoder.encode($0), as: UTF8.self) },
            clerk: w.clerk.flatMap { try? String(decoding: encoder.encode($0), as: UTF8.self) }, current: w.current)
    }

    var window: StoredWindow {
        let decoder = JSONDecoder()
        return StoredWindow(
            number: number, state: WindowState(rawValue: state) ?? .closed, away: away.flatMap { try? decoder.decode(AwayNotice.self, from: Data($0.utf8)) },
            clerk: clerk.flatMap { try? decoder.decode(ClerkCard.self, from: Data($0.utf8)) }, current: current)
    }
}
