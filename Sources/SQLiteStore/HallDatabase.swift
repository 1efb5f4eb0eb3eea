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

    /// Event numbers this opening will not give, because events that may have been
    /// lost with the machine (a power cut) could have had them: nil when none.
    public let eventNumbersSkipped: ClosedRange<Int64>?

    /// `bootID` is the kernel's boot id (`currentBootID()`); tests give their own to
    /// stand for a machine that restarted.
    public init(writer: any DatabaseWriter, path: String?, bootID: String = HallDatabase.currentBootID()) throws {
        self.writer = writer
        self.path = path
        try Self.migrator.migrate(writer)
        eventNumbersSkipped = try writer.write { db in try Self.settleReservation(db, boot: bootID) }
    }

    /// Opens (creating if needed) `halld.sqlite` in `directory`.
    public static func open(directory: String, bootID: String = HallDatabase.currentBootID()) throws -> HallDatabase {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let path = (directory as NSString).appendingPathComponent("halld.sqlite")
        let pool = try DatabasePool(path: path, configuration: configuration())
        // GRDB's pool turns WAL on after `prepareDatabase` ran, and sets the writer to
        // `synchronous=NORMAL` as it does so (a commit then reaches the disk only at the
        // next checkpoint: a power cut could lose tickets the API had confirmed). FULL
        // again, on the one connection that writes: every commit is synced to the WAL.
        try pool.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA synchronous = FULL") }
        return try HallDatabase(writer: pool, path: path, bootID: bootID)
    }

    /// The running kernel's boot id (`/proc/sys/kernel/random/boot_id`): it changes
    /// when the machine restarts, so a database last written on the same boot lost
    /// nothing its writer had written, synced or not. Empty where there is none
    /// (every opening is then taken as after a restart).
    public static func currentBootID() -> String {
        guard let text = try? String(contentsOfFile: "/proc/sys/kernel/random/boot_id", encoding: .utf8) else { return "" }
        return text.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Runs `body` in a transaction begun and committed by statements prepared once
    /// per connection (GRDB's `inTransaction` parses `BEGIN` and `COMMIT` anew each
    /// time: a twentieth of a ticket issue). Rolled back when `body` throws.
    static func transaction(_ db: Database, _ body: () throws -> Void) throws {
        try db.cachedStatement(sql: "BEGIN DEFERRED TRANSACTION").execute()
        do {
            try body()
            try db.cachedStatement(sql: "COMMIT TRANSACTION").execute()
        } catch {
            if db.isInsideTransaction { try? db.execute(sql: "ROLLBACK TRANSACTION") }
            throw error
        }
    }

    /// The writing connection's `PRAGMA synchronous` (2: FULL, every commit synced).
    public func synchronousLevel() async throws -> Int {
        try await writer.writeWithoutTransaction { db in try Int.fetchOne(db, sql: "PRAGMA synchronous") ?? -1 }
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

    /// The database's own consistency check (`PRAGMA integrity_check`): "ok" when sound.
    public func integrityCheck() async throws -> String {
        try await writer.read { db in try String.fetchOne(db, sql: "PRAGMA integrity_check") ?? "" }
    }

    /// A read that touches the database file (the watchdog's probe): the number of tables.
    public func integrityCheckQuick() async throws -> Int {
        try await writer.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM sqlite_master") ?? 0 }
    }

    /// Names of the migrations applied, sorted by name.
    public func appliedMigrations() async throws -> [String] {
        try await writer.read { db in try Self.migrator.appliedIdentifiers(db).sorted() }
    }

    /// Closes the database (checkpointing the WAL). Later use throws. Every event
    /// this halld stored is in the log, so no number stays reserved: the next opening
    /// goes on from the last event even after the machine restarted.
    public func close() throws {
        try? writer.write { db in try Self.releaseReservation(db) }
        if let pool = writer as? DatabasePool { try pool.close() }
        if let queue = writer as? DatabaseQueue { try queue.close() }
    }
}
