import DeviceKit
import Foundation
import GRDB
import HallModel

// Per-PC records that are not the hall's: device counters and print jobs.

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
