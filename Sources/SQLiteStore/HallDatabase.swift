import DeviceKit
import Foundation
import GRDB
import HallModel

/// The daemon's SQLite database. It owns the migrator and every write, so the
/// data stays consistent: the event log, device counters, and (with the hall)
/// tickets and ratings.
///
/// On disk it is a WAL `DatabasePool` with `synchronous=FULL`: a write that
/// returned is on disk, which is what lets the API acknowledge a ticket or a rating.
public final class HallDatabase: Sendable {
    public let writer: any DatabaseWriter
    /// Where the database lives, or nil in memory.
    public let path: String?

    public init(writer: any DatabaseWriter, path: String?) throws {
        self.writer = writer
        self.path = path
        try Self.migrator.migrate(writer)
    }

    /// Opens (creating if needed) `halld.sqlite` in `directory`.
    public static func open(directory: String) throws -> HallDatabase {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let path = (directory as NSString).appendingPathComponent("halld.sqlite")
        return try HallDatabase(writer: DatabasePool(path: path, configuration: configuration()), path: path)
    }

    /// An empty database in memory, for tests.
    public static func inMemory() throws -> HallDatabase {
        try HallDatabase(writer: DatabaseQueue(configuration: configuration()), path: nil)
    }

    static func configuration() -> Configuration {
        var config = Configuration()
        config.busyMode = .timeout(5)
        config.prepareDatabase { db in
            // Durable before acknowledged: every commit reaches the disk.
            try db.execute(sql: "PRAGMA synchronous = FULL")
        }
        return config
    }

    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1-event-log") { db in
            // AUTOINCREMENT: a sequence number is never reused, even after old events are trimmed.
            try db.execute(
                sql: """
                    CREATE TABLE event (
                        seq INTEGER PRIMARY KEY AUTOINCREMENT,
                        type TEXT NOT NULL,
                        device TEXT,
                        time TEXT NOT NULL,
                        data TEXT NOT NULL
                    );
                    CREATE INDEX event_time ON event(time);
                    """)
        }
        migrator.registerMigration("v1-device-counters") { db in
            try db.execute(
                sql: """
                    CREATE TABLE device_counter (
                        device TEXT NOT NULL,
                        name TEXT NOT NULL,
                        value INTEGER NOT NULL,
                        PRIMARY KEY (device, name)
                    ) WITHOUT ROWID;
                    """)
        }
        migrator.registerMigration("v2-print-jobs") { db in
            // Every print job with its outcome and the bytes sent, so a failed ticket
            // is visible and can be printed again.
            try db.execute(
                sql: """
                    CREATE TABLE print_job (
                        id TEXT PRIMARY KEY NOT NULL,
                        device TEXT NOT NULL,
                        format TEXT NOT NULL,
                        title TEXT NOT NULL,
                        state TEXT NOT NULL,
                        created_at TEXT NOT NULL,
                        updated_at TEXT NOT NULL,
                        job TEXT NOT NULL,
                        document BLOB
                    );
                    CREATE INDEX print_job_state ON print_job(state, created_at);
                    """)
        }
        migrator.registerMigration("v3-hall") { db in
            // Numbers are unique per service and day: a number is never issued twice.
            try db.execute(
                sql: """
                    CREATE TABLE ticket (
                        id TEXT PRIMARY KEY NOT NULL,
                        day TEXT NOT NULL,
                        service TEXT NOT NULL,
                        seq INTEGER NOT NULL,
                        number TEXT NOT NULL,
                        priority TEXT NOT NULL,
                        appointment TEXT,
                        slot REAL,
                        state TEXT NOT NULL,
                        issued_at REAL NOT NULL,
                        queued_at REAL NOT NULL,
                        called_at REAL,
                        finished_at REAL,
                        window INTEGER,
                        clerk TEXT,
                        recalls INTEGER NOT NULL DEFAULT 0,
                        transferred_from TEXT,
                        print_job TEXT,
                        print_error TEXT,
                        issue_service TEXT NOT NULL,
                        UNIQUE (day, issue_service, seq)
                    );
                    CREATE INDEX ticket_day_state ON ticket(day, state);
                    CREATE TABLE rating (
                        ticket TEXT PRIMARY KEY NOT NULL REFERENCES ticket(id),
                        number TEXT NOT NULL,
                        service TEXT NOT NULL,
                        window INTEGER NOT NULL,
                        clerk TEXT,
                        level TEXT,
                        time REAL NOT NULL,
                        channel TEXT NOT NULL
                    );
                    CREATE INDEX rating_time ON rating(time);
                    CREATE TABLE hall_window (
                        number INTEGER PRIMARY KEY NOT NULL,
                        state TEXT NOT NULL,
                        away TEXT,
                        clerk TEXT,
                        current TEXT
                    );
                    CREATE TABLE appointment (
                        code TEXT PRIMARY KEY NOT NULL,
                        service TEXT NOT NULL,
                        slot REAL NOT NULL,
                        ticket TEXT
                    );
                    """)
        }
        return migrator
    }

    /// The database's own consistency check (`PRAGMA integrity_check`): "ok" when sound.
    public func integrityCheck() async throws -> String {
        try await writer.read { db in try String.fetchOne(db, sql: "PRAGMA integrity_check") ?? "" }
    }

    /// Names of the migrations applied, in order.
    /// A read that touches the database file (the watchdog's probe): the number of tables.
    public func integrityCheckQuick() async throws -> Int {
        try await writer.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM sqlite_master") ?? 0 }
    }

    public func appliedMigrations() async throws -> [String] {
        try await writer.read { db in try Self.migrator.appliedIdentifiers(db).sorted() }
    }

    /// Closes the database (checkpointing the WAL). Later use throws.
    public func close() throws {
        if let pool = writer as? DatabasePool { try pool.close() }
        if let queue = writer as? DatabaseQueue { try queue.close() }
    }
}

/// The event log in SQLite: `event.seq` is AUTOINCREMENT, so a number is never given
/// again, even after old events are trimmed.
extension HallDatabase: EventStore {
    public func appendEvent(_ event: NewEvent, time: String, committed: @escaping @Sendable (HallEvent) -> Void) async throws -> HallEvent {
        let data = String(decoding: try JSONEncoder().encode(event.data), as: UTF8.self)
        // Without a transaction of GRDB's own: `committed` runs after the commit, still
        // on the serial writer, so events reach subscribers in sequence order.
        return try await writer.writeWithoutTransaction { db in
            var seq: Int64 = 0
            try db.inTransaction {
                try db.execute(
                    sql: "INSERT INTO event (type, device, time, data) VALUES (?, ?, ?, ?)",
                    arguments: [event.type, event.device?.rawValue, time, data])
                seq = db.lastInsertedRowID
                return .commit
            }
            let stored = HallEvent(seq: seq, type: event.type, time: time, device: event.device, data: event.data)
            committed(stored)
            return stored
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
                let data = (row["data"] as String?).flatMap { try? JSONDecoder().decode(JSONValue.self, from: Data($0.utf8)) } ?? .null
                return HallEvent(seq: row["seq"], type: row["type"], time: row["time"], device: (row["device"] as String?).flatMap(DeviceID.init), data: data)
            }
        }
    }

    /// The oldest sequence number still stored, or the next one to be given when the
    /// log is empty: a resume from before it has lost the events between.
    public func firstEventSequence() async throws -> Int64 {
        try await writer.read { db in
            if let first = try Int64.fetchOne(db, sql: "SELECT MIN(seq) FROM event") { return first }
            return (try Int64.fetchOne(db, sql: "SELECT seq FROM sqlite_sequence WHERE name = 'event'") ?? 0) + 1
        }
    }

    /// The highest sequence number given so far (0 when none).
    public func lastEventSequence() async throws -> Int64 {
        try await writer.read { db in
            try Int64.fetchOne(db, sql: "SELECT seq FROM sqlite_sequence WHERE name = 'event'") ?? 0
        }
    }

    public func deleteEvents(before cutoff: String) async throws -> Int {
        try await writer.write { db in
            try db.execute(sql: "DELETE FROM event WHERE time < ?", arguments: [cutoff])
            return db.changesCount
        }
    }
}

extension HallDatabase: CounterStore {
    public func loadCounters() async throws -> [DeviceID: DeviceCounters] {
        try await writer.read { db in
            var result: [DeviceID: DeviceCounters] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT device, name, value FROM device_counter") {
                guard let id = DeviceID(row["device"]) else { continue }
                result[id, default: DeviceCounters()].values[row["name"]] = row["value"]
            }
            return result
        }
    }

    public func addCounter(_ device: DeviceID, _ name: CounterName, _ delta: Int64) async throws {
        try await writer.write { db in
            try db.execute(
                sql: """
                    INSERT INTO device_counter (device, name, value) VALUES (?, ?, ?)
                    ON CONFLICT (device, name) DO UPDATE SET value = value + excluded.value
                    """,
                arguments: [device.rawValue, name.rawValue, delta])
        }
    }
}

/// A print job as stored: the job as the API shows it (JSON), and the document.
public struct PrintJobRecord: Sendable, Equatable {
    public var id: String
    public var device: String
    public var format: String
    public var title: String
    public var state: String
    public var createdAt: String
    public var updatedAt: String
    /// The job as the API shows it, JSON.
    public var job: String
    public var document: Data?

    public init(id: String, device: String, format: String, title: String, state: String, createdAt: String, updatedAt: String, job: String, document: Data?) {
        self.id = id
        self.device = device
        self.format = format
        self.title = title
        self.state = state
        self.createdAt = createdAt
        self.updatedAt = updatedAt
        self.job = job
        self.document = document
    }
}

extension HallDatabase {
    /// Stores a print job, or its new state (the document is kept from the first save).
    public func savePrintJob(_ r: PrintJobRecord) async throws {
        try await writer.write { db in
            try db.execute(
                sql: """
                    INSERT INTO print_job (id, device, format, title, state, created_at, updated_at, job, document)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                    ON CONFLICT (id) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at, job = excluded.job
                    """,
                arguments: [r.id, r.device, r.format, r.title, r.state, r.createdAt, r.updatedAt, r.job, r.document])
        }
    }

    public func printJob(_ id: String) async throws -> PrintJobRecord? {
        try await writer.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM print_job WHERE id = ?", arguments: [id]).map(Self.record)
        }
    }

    /// The newest print jobs, optionally in one state, without their documents.
    public func printJobs(state: String?, limit: Int) async throws -> [PrintJobRecord] {
        try await writer.read { db in
            let sql = "SELECT id, device, format, title, state, created_at, updated_at, job, NULL AS document FROM print_job"
                + (state == nil ? "" : " WHERE state = ?") + " ORDER BY created_at DESC, id LIMIT ?"
            let arguments: StatementArguments = state.map { [$0, limit] } ?? [limit]
            return try Row.fetchAll(db, sql: sql, arguments: arguments).map(Self.record)
        }
    }

    static func record(_ row: Row) -> PrintJobRecord {
        PrintJobRecord(
            id: row["id"], device: row["device"], format: row["format"], title: row["title"], state: row["state"], createdAt: row["created_at"],
            updatedAt: row["updated_at"], job: row["job"], document: row["document"])
    }
}
