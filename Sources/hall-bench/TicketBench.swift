import CSQLiteBench
import DeviceKit
import Foundation
import HallConfiguration
import SQLiteStore
import Hall
import HallAPIModels
import HallClient
import HallDaemon
import Logging

#if canImport(Glibc)
import Glibc
#endif

/// Durable ticket issues per second: in process (Hall.issue) and through the API,
/// against raw SQLite inserting one row per transaction with the same settings
/// (WAL, synchronous=FULL) in the same folder.
struct TicketBench {
    let seconds: Double
    let rounds: Int

    func run() async throws -> [Row] {
        let dir = NSTemporaryDirectory() + "hall-bench-tickets-\(getpid())"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }

        var raw: [Double] = []
        var inProcess: [Double] = []
        var api: [Double] = []
        var apiPerConnection: [Double] = []
        var ledger: [Double] = []
        var model: [Double] = []
        var config = try HallConfig.load(file: Self.configPath)
        config.socket = dir + "/halld.sock"
        config.stateDir = dir + "/state"
        config.logLevel = "critical"
        let logger = BenchDaemon.quietLogger
        let daemon = await BenchDaemon.start(config)
        let client = daemon.client
        // The in-process hall has its own database in the same folder, with its event log
        // in it, as halld has: every issue stores the ticket and its ticket.issued event.
        let database = try HallDatabase.open(directory: dir + "/inprocess")
        let registry = DeviceRegistry(devices: [], events: NullEvents(), logger: logger)
        let hall = Hall(setup: config.hall!, store: database, registry: registry, events: EventLog(store: database), logger: logger)
        try await hall.load()
        // What a ticket.issued event holds, from a ticket halld issued.
        let eventData = try JSONText.string(try await hall.issue(service: "A").jsonValue)

        for r in 0..<rounds {
            raw.append(try rawInserts(path: dir + "/raw-\(r).sqlite"))
            model.append(try issueStatements(directory: dir + "/model-\(r)", eventData: eventData))
            inProcess.append(try await timed { _ = try await hall.issue(service: "A") })
            // As a kiosk program does: one connection kept open, a POST at a time; from a
            // thread of the benchmark's own, so that its waits take nothing from the
            // in-process daemon's threads.
            let (socket, seconds) = (config.socket, seconds)
            api.append(try await onThread {
                let c = try ApiBench.Conn(socket)
                let start = ContinuousClock.now
                var n = 0
                while ContinuousClock.now - start < .milliseconds(Int(seconds * 1000)) {
                    guard let reply = c.request("POST", "/v1/tickets", json: #"{"service":"A"}"#), reply.status == 201 else { throw BenchError("POST /v1/tickets failed") }
                    n += 1
                }
                let d = ContinuousClock.now - start
                return Double(n) / (Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18)
            })
            // As hallctl does: a connection of its own for each request (HallClient).
            apiPerConnection.append(try await timed { let _: Ticket = try await client.call("POST", "/v1/tickets", json: IssueRequest(service: "A")) })
            var n = 0
            ledger.append(try await timed {
                n += 1
                _ = try await database.issueTicket(
                    NewTicket(id: "ledger-\(r)-\(n)", day: "2026-11-29", service: "L", priority: .normal, appointment: nil, at: Date(), dailyCap: nil))
            })
        }
        await daemon.stop()
        let b = median(raw)
        let m = median(model)
        let note = "baseline: sqlite3 C API, WAL, synchronous=FULL, one INSERT of a ticket-sized row per transaction, in the same folder; halld: Hall.issue in process with its event log in the same database, as halld has (number by MAX(seq)+1, the ticket's INSERT and its ticket.issued event in one GRDB write transaction), and POST /v1/tickets through the Unix socket: one connection kept open as a kiosk program keeps it (its own thread, raw HTTP/1.1), and a connection for each request as hallctl opens it (HallClient: SwiftNIO client, JSON encoded and decoded with Foundation)."
        return [
            Row(
                name: "durable ticket issue, in process", unit: "tickets/s", baseline: b, halld: median(inProcess), higherIsBetter: true,
                target: "≥ 85% of raw SQLite (ratio ≥ 0.85, issue 20)", met: median(inProcess) / b >= 0.85, note: note),
            Row(
                name: "durable ticket issue, halld's statements alone through SQLite's C API", unit: "tickets/s", baseline: b, halld: m, higherIsBetter: true,
                target: "report: what SQLite allows halld's issue", met: true,
                note: "the baseline's loop, on a database that halld created (its schema and migrations), running the statements an issue runs (HallDatabase.issueStatements) in one transaction: the service's last number, the ticket's row, its ticket.issued event (\(eventData.utf8.count) bytes of JSON, as halld writes it). No Swift between the statements: the ratio is what halld's schema costs SQLite — three B-tree pages synced in each commit (the ticket's, its (day, service, number) index's, the event log's) where the baseline's row writes two — and the bound of the in-process ratio above, which is \(String(format: "%.2f", median(inProcess) / m)) of this one."),
            Row(
                name: "durable ticket issue, through the API (one connection kept open)", unit: "tickets/s", baseline: b, halld: median(api), higherIsBetter: true,
                target: "≥ 60% of raw SQLite (ratio ≥ 0.6)", met: median(api) / b >= 0.6),
            Row(
                name: "durable ticket issue, through the API (hallctl's HallClient, a connection each)", unit: "tickets/s", baseline: b, halld: median(apiPerConnection),
                higherIsBetter: true, target: "report", met: true),
            Row(
                name: "ticket ledger write alone (HallDatabase.issueTicket)", unit: "tickets/s", baseline: b, halld: median(ledger), higherIsBetter: true,
                target: "report", met: true,
                note: "the SQLite part of an issue through GRDB (one write transaction: MAX(seq) and INSERT), without the hall's queue work: it shows where the in-process time goes."),
        ]
    }

    static var configPath: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path + "/Config/simulated.toml"
    }

    func timed(_ body: () async throws -> Void) async throws -> Double {
        let start = ContinuousClock.now
        var n = 0
        while ContinuousClock.now - start < .milliseconds(Int(seconds * 1000)) {
            try await body()
            n += 1
        }
        let d = ContinuousClock.now - start
        return Double(n) / (Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18)
    }

    /// Issues through SQLite's C API alone, with halld's statements on halld's schema:
    /// the baseline's loop and settings (WAL, synchronous=FULL, a transaction each).
    func issueStatements(directory: String, eventData: String) throws -> Double {
        let path: String
        do {
            let created = try HallDatabase.open(directory: directory)
            path = created.path!
            try created.close()
        }
        var db: OpaquePointer?
        guard sqlite3_open(path, &db) == SQLITE_OK else { throw BenchError("sqlite3_open failed") }
        defer { sqlite3_close(db) }
        sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL", nil, nil, nil)
        let sql = HallDatabase.issueStatements
        var statements: [OpaquePointer?] = [nil, nil, nil]
        for (i, text) in [sql.lastNumber, sql.ticket, sql.event].enumerated() {
            guard sqlite3_prepare_v2(db, text, -1, &statements[i], nil) == SQLITE_OK else { throw BenchError("prepare failed: \(text)") }
        }
        defer { statements.forEach { sqlite3_finalize($0) } }
        let (last, ticket, event) = (statements[0], statements[1], statements[2])
        let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)
        let start = ContinuousClock.now
        var n = 0
        while ContinuousClock.now - start < .milliseconds(Int(seconds * 1000)) {
            n += 1
            let at = Date().timeIntervalSince1970
            sqlite3_exec(db, "BEGIN", nil, nil, nil)
            sqlite3_bind_text(last, 1, "2026-11-29", -1, transient)
            sqlite3_bind_text(last, 2, "A", -1, transient)
            guard sqlite3_step(last) == SQLITE_ROW else { throw BenchError("last number failed") }
            let seq = sqlite3_column_int64(last, 0) + 1
            sqlite3_reset(last)
            let values: [String?] = [UUID().uuidString.lowercased(), "2026-11-29", "A", nil, String(format: "A%03d", seq), "normal", nil, nil, "waiting"]
            for (i, v) in values.enumerated() where i != 3 {
                if let v { sqlite3_bind_text(ticket, Int32(i + 1), v, -1, transient) } else { sqlite3_bind_null(ticket, Int32(i + 1)) }
            }
            sqlite3_bind_int64(ticket, 4, seq)
            sqlite3_bind_double(ticket, 10, at)
            sqlite3_bind_double(ticket, 11, at)
            sqlite3_bind_text(ticket, 12, "A", -1, transient)
            guard sqlite3_step(ticket) == SQLITE_DONE else { throw BenchError("ticket insert failed: \(String(cString: sqlite3_errmsg(db)))") }
            sqlite3_reset(ticket)
            sqlite3_bind_text(event, 1, "ticket.issued", -1, transient)
            sqlite3_bind_null(event, 2)
            sqlite3_bind_text(event, 3, "2026-11-29T10:00:00.000+08:00", -1, transient)
            sqlite3_bind_text(event, 4, eventData, -1, transient)
            guard sqlite3_step(event) == SQLITE_DONE else { throw BenchError("event insert failed: \(String(cString: sqlite3_errmsg(db)))") }
            sqlite3_reset(event)
            guard sqlite3_exec(db, "COMMIT", nil, nil, nil) == SQLITE_OK else { throw BenchError("commit failed") }
        }
        let d = ContinuousClock.now - start
        return Double(n) / (Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18)
    }

    func rawInserts(path: String) throws -> Double {
        var db: OpaquePointer?
        guard sqlite3_open(path, &db) == SQLITE_OK else { throw BenchError("sqlite3_open failed") }
        defer { sqlite3_close(db) }
        sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; CREATE TABLE t (id TEXT PRIMARY KEY, day TEXT, service TEXT, seq INTEGER, number TEXT, issued_at REAL)", nil, nil, nil)
        var stmt: OpaquePointer?
        sqlite3_prepare_v2(db, "INSERT INTO t VALUES (?, '2026-11-29', 'A', ?, ?, ?)", -1, &stmt, nil)
        defer { sqlite3_finalize(stmt) }
        let start = ContinuousClock.now
        var n = 0
        let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)
        while ContinuousClock.now - start < .milliseconds(Int(seconds * 1000)) {
            n += 1
            sqlite3_exec(db, "BEGIN IMMEDIATE", nil, nil, nil)
            sqlite3_bind_text(stmt, 1, UUID().uuidString, -1, transient)
            sqlite3_bind_int(stmt, 2, Int32(n))
            sqlite3_bind_text(stmt, 3, String(format: "A%03d", n), -1, transient)
            sqlite3_bind_double(stmt, 4, Date().timeIntervalSince1970)
            guard sqlite3_step(stmt) == SQLITE_DONE else { throw BenchError("insert failed") }
            sqlite3_reset(stmt)
            sqlite3_exec(db, "COMMIT", nil, nil, nil)
        }
        let d = ContinuousClock.now - start
        return Double(n) / (Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18)
    }
}

/// Events nobody reads (the in-process hall's).
struct NullEvents: EventPublisher {
    func publish(_ event: NewEvent) async throws -> HallEvent {
        HallEvent(seq: 0, type: event.type, time: "", device: event.device, data: event.data)
    }
}
