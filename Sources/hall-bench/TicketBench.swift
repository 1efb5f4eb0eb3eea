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
import UnixSockets

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
        var awaited: [Double] = []
        var modelAwaited: [Double] = []
        var bare: [Double] = []
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
            raw.append(try direct(try RawInserts(path: dir + "/raw-\(r).sqlite")))
            model.append(try direct(try IssueStatements(directory: dir + "/model-\(r)", eventData: eventData)))
            awaited.append(try await onQueue { try RawInserts(path: dir + "/awaited-\(r).sqlite") })
            modelAwaited.append(try await onQueue { try IssueStatements(directory: dir + "/model-awaited-\(r)", eventData: eventData) })
            inProcess.append(try await timed { _ = try await hall.issue(service: "A") })
            // As a kiosk program does: one connection kept open, a POST at a time; from a
            // thread of the benchmark's own, so that its waits take nothing from the
            // in-process daemon's threads.
            let (socket, seconds) = (config.socket, seconds)
            api.append(try await onThread { try Self.posts(to: socket, seconds: seconds) })
            // The same client against a bare server that runs halld's statements alone.
            let bareSocket = dir + "/bare-\(r).sock"
            let listener: Int32
            do { listener = try UnixSocket.bind(bareSocket) } catch { throw BenchError("\(error)") }
            defer { close(listener) }
            let reply = Array("HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: \(eventData.utf8.count)\r\n\r\n\(eventData)".utf8)
            let modelDirectory = dir + "/model-served-\(r)"
            async let served = onThread { try Self.serveIssues(on: listener, with: IssueStatements(directory: modelDirectory, eventData: eventData), reply: reply) }
            do {
                bare.append(try await onThread { try Self.posts(to: bareSocket, seconds: seconds) })
            } catch {
                // A client that never connected leaves the server in accept: end it.
                shutdown(listener, Int32(SHUT_RDWR))
                _ = try? await served
                throw error
            }
            _ = try await served
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
                note: "the baseline's loop, on a database that halld created (its schema and migrations), running the statements an issue runs (HallDatabase.issueStatements) in one transaction: the service's last number, the ticket's row, its ticket.issued event (\(eventData.utf8.count) bytes of JSON, as halld writes it). No Swift between the statements: the ratio is what halld's schema costs SQLite — three B-tree pages synced in each commit (the ticket's, its (day, service, number) index's, the event log's) where the baseline's row writes two — run on the benchmark's thread, without the hand-off to a writer thread that halld's issue makes (next rows)."),
            Row(
                name: "raw SQLite insert awaited from a Swift task (on a serial queue of its own)", unit: "tickets/s", baseline: b,
                halld: median(awaited), higherIsBetter: true, target: "report: what keeping the commit's wait off the cooperative pool costs", met: true,
                note: "the baseline's transactions, unchanged, run by an actor whose executor is a serial dispatch queue (as GRDB runs its writer) and each awaited from a task on the cooperative pool, as any issue must be that keeps the wait for the disk off the pool's threads: the task's thread hands the transaction to the queue's thread and is woken when it is committed. No halld code: what the hand-off alone costs."),
            Row(
                name: "durable ticket issue, halld's statements awaited from a Swift task (the bound of the in-process issue)", unit: "tickets/s", baseline: b,
                halld: median(modelAwaited), higherIsBetter: true, target: "report: the most an in-process issue can reach", met: true,
                note: "halld's statements through SQLite's C API (\"halld's statements alone\" above), run and awaited as in the row before: the schema's cost and the hand-off's together, without any of halld's Swift. No design that stores the ticket with its event and keeps the wait off the pool can issue faster; halld's in-process issue is \(String(format: "%.2f", median(inProcess) / median(modelAwaited))) of this one."),
            Row(
                name: "durable ticket issue, a bare HTTP server running halld's statements (the bound of the API issue)", unit: "tickets/s", baseline: b,
                halld: median(bare), higherIsBetter: true, target: "report: the most an issue through a Unix socket can reach", met: true,
                note: "the next row's client (one connection kept open, a POST at a time, its own thread) against a server of a few lines on a thread of its own: it reads each request (its head up to the blank line, its body by Content-Length), hands halld's statements (\"halld's statements alone\" above) to a writer thread, waits for the commit, and answers 201 with a ticket's JSON written once. No HTTP parsing beyond that, no JSON, none of halld's Swift: what a server reaches that keeps the wait for the disk off its I/O thread, with halld's schema. halld's API issue is \(String(format: "%.2f", median(api) / median(bare))) of this one."),
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
        return Self.rate(n, since: start)
    }

    /// POST /v1/tickets as a kiosk program sends it, one after another on one connection
    /// kept open, for the measurement's time: requests a second.
    static func posts(to socket: String, seconds: Double) throws -> Double {
        let c = try ApiBench.Conn(socket)
        let start = ContinuousClock.now
        var n = 0
        while ContinuousClock.now - start < .milliseconds(Int(seconds * 1000)) {
            guard let reply = c.request("POST", "/v1/tickets", json: #"{"service":"A"}"#), reply.status == 201 else { throw BenchError("POST /v1/tickets to \(socket) failed") }
            n += 1
        }
        return Self.rate(n, since: start)
    }

    /// The bare server: answers each request on the first connection to `listener` with
    /// `reply` once `commits` committed on a writer thread, until the client closes;
    /// returns how many. Runs on a thread of its own (it blocks).
    static func serveIssues(on listener: Int32, with commits: any SQLiteCommits, reply: [UInt8]) throws -> Int {
        let fd = accept(listener, nil, nil)
        guard fd >= 0 else { throw BenchError("accept failed: errno \(errno)") }
        let connection = ApiBench.Conn(accepted: fd)
        let writer = WriterThread(commits)
        defer { writer.close() }
        var n = 0
        while connection.readResponse() != nil {
            n += 1
            try writer.commit(n)
            connection.send(reply)
        }
        return n
    }

    /// `commits` run back to back on this thread for the measurement's time: commits a second.
    func direct(_ commits: any SQLiteCommits) throws -> Double {
        defer { commits.close() }
        let start = ContinuousClock.now
        var n = 0
        while ContinuousClock.now - start < .milliseconds(Int(seconds * 1000)) {
            n += 1
            try commits.commit(n)
        }
        return Self.rate(n, since: start)
    }

    /// `commits` run on a serial dispatch queue of their own (an actor's executor, as GRDB
    /// runs its writer), each awaited from this task on the cooperative pool.
    func onQueue(_ make: @escaping @Sendable () throws -> any SQLiteCommits) async throws -> Double {
        let queue = try await QueueCommits(make)
        let start = ContinuousClock.now
        var n = 0
        while ContinuousClock.now - start < .milliseconds(Int(seconds * 1000)) {
            n += 1
            try await queue.commit(n)
        }
        let r = Self.rate(n, since: start)
        await queue.close()
        return r
    }

    /// `n` done since `start`, a second.
    static func rate(_ n: Int, since start: ContinuousClock.Instant) -> Double {
        let d = ContinuousClock.now - start
        return Double(n) / (Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18)
    }
}

/// One transaction after another through SQLite's C API (WAL, synchronous=FULL).
protocol SQLiteCommits: AnyObject {
    /// The `n`th transaction, committed (synced) when it returns.
    func commit(_ n: Int) throws
    func close()
}

private let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

/// The baseline: one INSERT of a ticket-sized row per transaction.
final class RawInserts: SQLiteCommits {
    private let db: OpaquePointer
    private let statement: OpaquePointer

    init(path: String) throws {
        var db: OpaquePointer?
        guard sqlite3_open(path, &db) == SQLITE_OK, let db else { throw BenchError("sqlite3_open failed") }
        sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; CREATE TABLE t (id TEXT PRIMARY KEY, day TEXT, service TEXT, seq INTEGER, number TEXT, issued_at REAL)", nil, nil, nil)
        var stmt: OpaquePointer?
        guard sqlite3_prepare_v2(db, "INSERT INTO t VALUES (?, '2026-11-29', 'A', ?, ?, ?)", -1, &stmt, nil) == SQLITE_OK, let stmt else {
            sqlite3_close(db)
            throw BenchError("prepare failed")
        }
        (self.db, self.statement) = (db, stmt)
    }

    func commit(_ n: Int) throws {
        sqlite3_exec(db, "BEGIN IMMEDIATE", nil, nil, nil)
        sqlite3_bind_text(statement, 1, UUID().uuidString, -1, transient)
        sqlite3_bind_int(statement, 2, Int32(n))
        sqlite3_bind_text(statement, 3, String(format: "A%03d", n), -1, transient)
        sqlite3_bind_double(statement, 4, Date().timeIntervalSince1970)
        guard sqlite3_step(statement) == SQLITE_DONE else { throw BenchError("insert failed") }
        sqlite3_reset(statement)
        guard sqlite3_exec(db, "COMMIT", nil, nil, nil) == SQLITE_OK else { throw BenchError("commit failed") }
    }

    func close() {
        sqlite3_finalize(statement)
        sqlite3_close(db)
    }
}

/// halld's issue through SQLite's C API alone: the statements an issue runs
/// (`HallDatabase.issueStatements`) on a database halld created, in one transaction.
final class IssueStatements: SQLiteCommits {
    private let db: OpaquePointer
    private let last: OpaquePointer
    private let ticket: OpaquePointer
    private let event: OpaquePointer
    private let eventData: String

    init(directory: String, eventData: String) throws {
        let path: String
        do {
            let created = try HallDatabase.open(directory: directory)
            path = created.path!
            try created.close()
        }
        var db: OpaquePointer?
        guard sqlite3_open(path, &db) == SQLITE_OK, let db else { throw BenchError("sqlite3_open failed") }
        sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL", nil, nil, nil)
        let sql = HallDatabase.issueStatements
        var statements: [OpaquePointer] = []
        for text in [sql.lastNumber, sql.ticket, sql.event] {
            var statement: OpaquePointer?
            guard sqlite3_prepare_v2(db, text, -1, &statement, nil) == SQLITE_OK, let statement else {
                statements.forEach { sqlite3_finalize($0) }
                sqlite3_close(db)
                throw BenchError("prepare failed: \(text)")
            }
            statements.append(statement)
        }
        (self.db, last, ticket, event, self.eventData) = (db, statements[0], statements[1], statements[2], eventData)
    }

    func commit(_ n: Int) throws {
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

    func close() {
        [last, ticket, event].forEach { sqlite3_finalize($0) }
        sqlite3_close(db)
    }
}

/// `SQLiteCommits` made and run on a serial dispatch queue of their own: an actor with
/// that queue as its executor, as GRDB runs its writer.
actor QueueCommits {
    private let executor = QueueExecutor(DispatchQueue(label: "hall-bench.commits"))
    nonisolated var unownedExecutor: UnownedSerialExecutor { executor.asUnownedSerialExecutor() }
    private let commits: any SQLiteCommits

    init(_ make: @Sendable () throws -> any SQLiteCommits) async throws { commits = try make() }

    func commit(_ n: Int) throws { try commits.commit(n) }

    func close() { commits.close() }
}

/// `SQLiteCommits` run on a serial dispatch queue for a thread that waits for each
/// (the bare server's: a thread of its own, not the pool's).
final class WriterThread: @unchecked Sendable {
    // @unchecked: `commits` and `failure` are used on the queue alone, one commit at a time.
    private let commits: any SQLiteCommits
    private let queue = DispatchQueue(label: "hall-bench.bare-writer")
    private let done = DispatchSemaphore(value: 0)
    private var failure: (any Error)?

    init(_ commits: any SQLiteCommits) { self.commits = commits }

    /// Hands the commit to the queue's thread and waits for it: `async` and a semaphore,
    /// not `sync`, which dispatch runs on the calling thread (the hand-off is what the
    /// bare server's row keeps).
    func commit(_ n: Int) throws {
        queue.async { [self] in
            do { try commits.commit(n) } catch { failure = error }
            done.signal()
        }
        done.wait()
        if let failure = queue.sync(execute: { failure }) { throw failure }
    }

    func close() { queue.sync { commits.close() } }
}

/// A serial dispatch queue as an actor's executor, as GRDB's writer has one.
final class QueueExecutor: SerialExecutor, @unchecked Sendable {
    private let queue: DispatchQueue

    init(_ queue: DispatchQueue) { self.queue = queue }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        queue.async { job.runSynchronously(on: self.asUnownedSerialExecutor()) }
    }

    func asUnownedSerialExecutor() -> UnownedSerialExecutor { UnownedSerialExecutor(ordinary: self) }
}

/// Events nobody reads (the in-process hall's).
struct NullEvents: EventPublisher {
    func publish(_ event: NewEvent) async throws -> HallEvent {
        HallEvent(seq: 0, type: event.type, time: "", device: event.device, data: event.data)
    }
}
