import DeviceKit
import Foundation
import GRDB
import HallModel

/// The event log in SQLite. A number is never given again, even after old events are
/// trimmed: the next is one more than the log's highest, or than `event_floor` (the
/// highest given before a trim that emptied the log).
extension HallDatabase: FollowedEventStore {
    /// Stores an event with the next sequence number, inside the caller's transaction;
    /// returns the number.
    static func insertEvent(_ db: Database, type: String, device: String?, time: String, data: String) throws -> Int64 {
        let insert = try PreparedRow(
            db,
            sql: """
                INSERT INTO event (seq, type, device, time, data)
                VALUES (COALESCE((SELECT MAX(seq) FROM event), (SELECT seq FROM event_floor), 0) + 1, ?, ?, ?, ?)
                """)
        try insert.bind(1, type)
        try insert.bind(2, device)
        try insert.bind(3, time)
        try insert.bind(4, data)
        try insert.run()
        return db.lastInsertedRowID
    }

    /// The highest sequence number given so far (0 when none), inside a read or write.
    static func lastEventSequence(_ db: Database) throws -> Int64 {
        try Int64.fetchOne(db, sql: "SELECT MAX(COALESCE((SELECT MAX(seq) FROM event), 0), COALESCE((SELECT seq FROM event_floor), 0))") ?? 0
    }

    public func appendEvent(_ event: NewEvent, time: String, committed: @escaping @Sendable (HallEvent) -> Void) async throws -> HallEvent {
        let data = try JSONText.string(event.data)
        // Without a transaction of GRDB's own: `committed` runs after the commit, still
        // on the serial writer, so events reach subscribers in sequence order.
        return try await writer.writeWithoutTransaction { db in
            var seq: Int64 = 0
            try Self.transaction(db) {
                seq = try Self.insertEvent(db, type: event.type, device: event.device?.rawValue, time: time, data: data)
            }
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
