import CSQLiteBench
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

        for r in 0..<rounds {
            raw.append(try rawInserts(path: dir + "/raw-\(r).sqlite"))
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
        let note = "baseline: sqlite3 C API, WAL, synchronous=FULL, one INSERT of a ticket-sized row per transaction, in the same folder; halld: Hall.issue in process with its event log in the same database, as halld has (number by MAX(seq)+1, the ticket's INSERT and its ticket.issued event in one GRDB write transaction), and POST /v1/tickets through the Unix socket: one connection kept open as a kiosk program keeps it (its own thread, raw HTTP/1.1), and a connection for each request as hallctl opens it (HallClient: SwiftNIO client, JSON encoded and decoded with Foundation)."
        return [
            Row(
                name: "durable ticket issue, in process", unit: "tickets/s", baseline: b, halld: median(inProcess), higherIsBetter: true,
                target: "≥ 85% of raw SQLite (ratio ≥ 0.85, issue 20)", met: median(inProcess) / b >= 0.85, note: note),
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
