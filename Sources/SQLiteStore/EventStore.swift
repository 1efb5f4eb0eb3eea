import DeviceKit
import Foundation
import GRDB
import GRDBSQLite
import HallModel

/// The event log in SQLite. A number is never given again, even after old events are
/// trimmed: the next is one more than the log's highest or than `event_floor`, whichever
/// is higher (the highest given before a trim that emptied the log, or reserved for
/// device events a power cut may have lost: `settleReservation`).
extension HallDatabase: FollowedEventStore {
    /// Stores an event with the next sequence number, inside the caller's transaction;
    /// returns the number.
    static func insertEvent(_ db: Database, type: String, device: String?, time: String, data: String) throws -> Int64 {
        let insert = try PreparedRow(db, sql: insertEventSQL)
        try insert.bind(1, type)
        try insert.bind(2, device)
        try insert.bind(3, time)
        try insert.bind(4, data)
        try insert.run()
        return db.lastInsertedRowID
    }

    /// Sets the writer's `PRAGMA synchronous`. SQLite takes it outside a transaction
    /// only, and as the PRAGMA is prepared (so not from a cached statement); run
    /// through SQLite's C API, as GRDB's `execute(sql:)` costs several times SQLite's
    /// work for it.
    static func synchronous(_ db: Database, _ level: StaticString) throws {
        let sql = "PRAGMA synchronous = \(level)"
        let code = sqlite3_exec(db.sqliteConnection, sql, nil, nil, nil)
        guard code == SQLITE_OK else { throw DatabaseError(resultCode: ResultCode(rawValue: code), message: db.lastErrorMessage, sql: sql) }
    }

    /// The highest number given so far, as an SQL expression (0 when none).
    static let lastSequence = "MAX(COALESCE((SELECT MAX(seq) FROM event), 0), COALESCE((SELECT seq FROM event_floor), 0))"
    static let insertEventSQL = "INSERT INTO event (seq, type, device, time, data) VALUES (\(lastSequence) + 1, ?, ?, ?, ?)"
    static let reservedAheadSQL = "SELECT (SELECT seq FROM event_reservation) - \(lastSequence)"

    /// How many numbers past the last one given are reserved for unsynced observations
    /// (see `appendEvent`); 0 or less when none.
    static func numbersReservedAhead(_ db: Database) throws -> Int64 {
        try PreparedRow(db, sql: reservedAheadSQL).int64() ?? 0
    }

    /// At opening: when the machine restarted since the last reservation (another boot
    /// id) and numbers were reserved past the log's last event, observations that had
    /// them may have been lost with the WAL's unsynced end after subscribers had them:
    /// the log goes on after the reservation (those numbers are skipped). On the same
    /// boot nothing written was lost (a halld killed leaves its writes with the
    /// kernel), and the log goes on from its last event. Either way nothing stays
    /// reserved. Returns the numbers skipped.
    static func settleReservation(_ db: Database, boot: String) throws -> ClosedRange<Int64>? {
        let row = try Row.fetchOne(db, sql: "SELECT seq, boot FROM event_reservation")
        let reserved: Int64 = row?["seq"] ?? 0
        let reservedOn: String = row?["boot"] ?? ""
        let last = try lastEventSequence(db)
        var skipped: ClosedRange<Int64>?
        if reserved > last && (boot.isEmpty || reservedOn != boot) {
            try db.execute(sql: "UPDATE event_floor SET seq = ?", arguments: [reserved])
            skipped = (last + 1)...reserved
        }
        try db.execute(sql: "UPDATE event_reservation SET seq = ?, boot = ?", arguments: [try lastEventSequence(db), boot])
        return skipped
    }

    /// At closing: every event is in the log, so nothing stays reserved.
    static func releaseReservation(_ db: Database) throws {
        try db.execute(sql: "UPDATE event_reservation SET seq = ?", arguments: [try lastEventSequence(db)])
    }

    /// The highest sequence number given so far (0 when none), inside a read or write.
    static func lastEventSequence(_ db: Database) throws -> Int64 {
        try Int64.fetchOne(db, sql: "SELECT \(lastSequence)") ?? 0
    }

    /// How many numbers a synced commit reserves for the observations after it.
    static let reservedAhead: Int64 = 1024

    /// Stores `event` with the next number and hands it to `committed`. Every commit is
    /// synced (FULL) but an observation's (`EventType.observations`: what a device says
    /// of itself now, asked again at every start) whose number is reserved already:
    /// that one is in the WAL, and reaches the disk with the next synced commit (every
    /// ticket, rating, any other event) or a checkpoint. A power cut can lose it after
    /// subscribers had it; its number is never given again (`settleReservation`).
    public func appendEvent(_ event: NewEvent, time: String, committed: @escaping @Sendable (HallEvent) -> Void) async throws -> HallEvent {
        let data = try JSONText.string(event.data)
        let observation = EventType.observations.contains(event.type)
        // Without a transaction of GRDB's own: `committed` runs after the commit, still
        // on the serial writer, so events reach subscribers in sequence order.
        return try await writer.writeWithoutTransaction { db in
            var seq: Int64 = 0
            // Numbers are given on this connection alone, so the next one, reserved
            // before the transaction, is the one it takes.
            let unsynced = try observation && Self.numbersReservedAhead(db) > 0
            if unsynced { try Self.synchronous(db, "NORMAL") }
            let outcome = Result {
                try Self.transaction(db) {
                    seq = try Self.insertEvent(db, type: event.type, device: event.device?.rawValue, time: time, data: data)
                    if observation && !unsynced {
                        try db.execute(sql: "UPDATE event_reservation SET seq = ?", arguments: [seq + Self.reservedAhead])
                    }
                }
            }
            if unsynced { try Self.synchronous(db, "FULL") }
            try outcome.get()
            let stored = HallEvent(seq: seq, type: event.type, time: time, device: event.device, data: event.data)
            committed(stored)
            return stored
        }
    }

    /// Stores the event of a shared hall with a local sequence number, and the hall
    /// sequence with it, unless that hall sequence was stored already.
    public func appendFollowed(_ event: HallEvent, hall: String, committed: @escaping @Sendable (HallEvent) -> Void) async throws -> HallEvent? {
        let data = try JSONText.string(event.data)
        return try await writer.writeWithoutTransaction { db in
            var seq: Int64?
            try Self.transaction(db) {
                let followed = try Int64.fetchOne(db, sql: "SELECT seq FROM followed_hall WHERE hall = ?", arguments: [hall]) ?? 0
                guard event.seq > followed else { return }
                seq = try Self.insertEvent(db, type: event.type, device: event.device?.rawValue, time: event.time, data: data)
                try db.execute(
                    sql: "INSERT INTO followed_hall (hall, seq) VALUES (?, ?) ON CONFLICT (hall) DO UPDATE SET seq = excluded.seq", arguments: [hall, event.seq])
            }
            guard let seq else { return nil }
            let stored = HallEvent(seq: seq, type: event.type, time: event.time, device: event.device, data: event.data)
            committed(stored)
            return stored
        }
    }

    public func followedSequence(hall: String) async throws -> Int64? {
        try await writer.read { db in try Int64.fetchOne(db, sql: "SELECT seq FROM followed_hall WHERE hall = ?", arguments: [hall]) }
    }

    public func startFollowing(hall: String, after seq: Int64) async throws -> Int64 {
        try await writer.write { db in
            try db.execute(sql: "INSERT INTO followed_hall (hall, seq) VALUES (?, ?) ON CONFLICT (hall) DO NOTHING", arguments: [hall, seq])
            return try Int64.fetchOne(db, sql: "SELECT seq FROM followed_hall WHERE hall = ?", arguments: [hall]) ?? seq
        }
    }

    /// Stored events after `seq` of `types` (types or families, all when nil), oldest
    /// first, at most `limit`. The filter is in the query, so a page shorter than
    /// `limit` is the end of the log.
    public func events(after seq: Int64, limit: Int, types: Set<String>?) async throws -> [HallEvent] {
        var sql = "SELECT seq, type, device, time, data FROM event WHERE seq > ?"
        var arguments: StatementArguments = [seq]
        if let types {
            let sorted = types.sorted()
            // A type (keypad.rating) matches itself; a family (keypad) every type under it.
            let exact = sorted.map { _ in "?" }.joined(separator: ", ")
            let families = sorted.map { _ in "substr(type, 1, instr(type, '.') - 1) = ?" }.joined(separator: " OR ")
            sql += " AND (type IN (\(exact)) OR (instr(type, '.') > 0 AND (\(families))))"
            for t in sorted { _ = arguments.append(contentsOf: [t]) }
            for t in sorted { _ = arguments.append(contentsOf: [t]) }
        }
        sql += " ORDER BY seq LIMIT ?"
        _ = arguments.append(contentsOf: [limit])
        let (query, values) = (sql, arguments)
        return try await writer.read { db in
            try Row.fetchAll(db, sql: query, arguments: values).map { row in
                let data = (row["data"] as String?).flatMap { try? JSONValue.parse(Data($0.utf8)) } ?? .null
                return HallEvent(seq: row["seq"], type: row["type"], time: row["time"], device: (row["device"] as String?).flatMap(DeviceID.init), data: data)
            }
        }
    }

    /// The oldest sequence number still stored, or the next one to be given when the
    /// log is empty: a resume from before it has lost the events between.
    public func firstEventSequence() async throws -> Int64 {
        try await writer.read { db in
            if let first = try Int64.fetchOne(db, sql: "SELECT MIN(seq) FROM event") { return first }
            return try Self.lastEventSequence(db) + 1
        }
    }

    /// The highest sequence number given so far (0 when none).
    public func lastEventSequence() async throws -> Int64 {
        try await writer.read { db in try Self.lastEventSequence(db) }
    }

    /// Deletes the events before the first one stamped at or after `cutoff`. The log
    /// is walked from its oldest end (no index on the time: one page less for every
    /// event stored), so a trim reads what it deletes and one row more; an event
    /// stamped earlier than one before it (the clock set back) is kept until the
    /// events before it go.
    public func deleteEvents(before cutoff: String) async throws -> Int {
        try await writer.write { db in
            // The highest number given is kept, should this trim empty the log.
            try db.execute(sql: "UPDATE event_floor SET seq = ?", arguments: [try Self.lastEventSequence(db)])
            try db.execute(
                sql: """
                    DELETE FROM event WHERE seq < COALESCE(
                        (SELECT seq FROM event WHERE time >= ? ORDER BY seq LIMIT 1),
                        (SELECT MAX(seq) + 1 FROM event))
                    """, arguments: [cutoff])
            return db.changesCount
        }
    }
}
