import ChildProcess
import Foundation
import Hall
import HallAPIModels
import HallClient
import HallConfiguration
import HallModel
import Logging
import PostgresStore
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The hall on PostgreSQL (`HALLD_BENCH_POSTGRES`, which `make bench` starts):
/// durable ticket issues against psql inserting one row per transaction on the same
/// server, and a call at a window of one halld until the main display of another
/// shows it.
struct SharedHallBench {
    let url: String
    let seconds: Double
    let rounds: Int

    func run() async throws -> [Row] {
        try await issues() + crossPC()
    }

    // MARK: durable issues

    func issues() async throws -> [Row] {
        let logger = BenchDaemon.quietLogger
        let config = try HallConfig.load(file: TicketBench.configPath)
        let store = try PostgresHallStore(url: url, hall: "bench-" + UUID().uuidString.prefix(8).lowercased(), logger: logger)
        defer { store.close() }
        try await store.join(services: config.hall!.services, windows: [])
        let registry = DeviceRegistry(devices: [], events: NullEvents(), logger: logger)
        let hall = Hall(setup: config.hall!, store: store, registry: registry, events: SharedHallEvents(store: store), logger: logger)
        try await hall.load()
        let timer = TicketBench(seconds: seconds, rounds: rounds)
        var raw: [Double] = [], issue: [Double] = [], ledger: [Double] = []
        for r in 0..<rounds {
            raw.append(try await psqlInserts(round: r))
            issue.append(try await timer.timed { _ = try await hall.issue(service: "A") })
            var n = 0
            ledger.append(
                try await timer.timed {
                    n += 1
                    _ = try await store.issueTicket(
                        NewTicket(id: "ledger-\(r)-\(n)", day: "2026-11-29", service: "L", priority: .normal, appointment: nil, at: Date(), dailyCap: nil))
                })
        }
        let b = median(raw)
        return [
            Row(
                name: "durable ticket issue, PostgreSQL store, in process", unit: "tickets/s", baseline: b, halld: median(issue), higherIsBetter: true,
                target: "report", met: true,
                note: "baseline: psql (libpq) running one single-row INSERT of a ticket-sized row per transaction (autocommit, synchronous_commit=on), one after another, on the same server as halld's store; not pipelined, as halld's issues are one transaction each. halld: Hall.issue with the PostgreSQL store: the ticket (advisory lock, MAX(seq)+1, INSERT) and its ticket.issued event (hall sequence, INSERT and NOTIFY in one statement) in one transaction: five round trips through PostgresNIO (BEGIN, the number lock, the next number and the row in one INSERT, the event, COMMIT), one commit."),
            Row(
                name: "ticket ledger write alone, PostgreSQL (PostgresHallStore.issueTicket)", unit: "tickets/s", baseline: b, halld: median(ledger),
                higherIsBetter: true, target: "report", met: true),
        ]
    }

    /// One-row INSERT transactions through psql for `seconds`-ish (a fixed count sized
    /// from a first short run), in tickets a second.
    func psqlInserts(round: Int) async throws -> Double {
        let table = "bench_raw_\(getpid())_\(round)"
        _ = try await psql("CREATE TABLE \(table) (id TEXT PRIMARY KEY, day TEXT, service TEXT, seq INTEGER, number TEXT, issued_at DOUBLE PRECISION);\n")
        func script(_ from: Int, _ count: Int) -> String {
            (from..<from + count).map { n in
                "INSERT INTO \(table) VALUES ('\(UUID().uuidString)', '2026-11-29', 'A', \(n), 'A\(String(format: "%03d", n))', \(Date().timeIntervalSince1970));\n"
            }.joined()
        }
        let probe = try await psql(script(0, 200))
        let count = max(200, Int(200 * seconds / max(probe, 0.001)))
        let elapsed = try await psql(script(200, count))
        _ = try await psql("DROP TABLE \(table);\n")
        return Double(count) / elapsed
    }

    /// Runs `sql` through psql; returns the seconds it took.
    func psql(_ sql: String) async throws -> Double {
        let start = ContinuousClock.now
        let r = try await runCommand([Self.psqlPath, "-q", "-X", "-v", "ON_ERROR_STOP=1", "-d", url, "-f", "-"], input: sql, within: .seconds(120))
        guard r.status == 0 else { throw BenchError("psql: \(r.output.prefix(500))") }
        let d = ContinuousClock.now - start
        return Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
    }

    /// psql on the PATH (Debian's postgresql-client).
    static var psqlPath: String {
        let dirs = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":")
        return dirs.map { "\($0)/psql" }.first { FileManager.default.isExecutableFile(atPath: $0) } ?? "/usr/bin/psql"
    }

    // MARK: cross-PC calls

    /// A kiosk halld (main display) and a windows halld (window 3) on one hall: the
    /// time from POST call-next on the windows halld until the kiosk's main display
    /// shows the call, against the same call reaching window 3's own display.
    func crossPC() async throws -> [Row] {
        let dir = NSTemporaryDirectory() + "hall-bench-shared-\(getpid())"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let hallID = "bench-" + UUID().uuidString.prefix(8).lowercased()
        func config(_ name: String, devices: String, rest: String) throws -> HallConfig {
            try FileManager.default.createDirectory(atPath: dir + "/" + name, withIntermediateDirectories: true)
            var c = try HallConfig.parse(
                """
                \(devices)
                [hall]
                store = "\(url)"
                id = "\(hallID)"
                [[hall.service]]
                code = "A"
                \(rest)
                """, file: name)
            c.socket = dir + "/\(name)/halld.sock"
            c.stateDir = dir + "/\(name)/state"
            c.logLevel = "critical"
            return c
        }
        let display = { (id: String) in "[[device]]\nid = \"\(id)\"\nkind = \"display\"\ndriver = \"simulated\"\nlines = 4\ncolumns = 32\n" }
        let kiosk = await BenchDaemon.start(try config("kiosk", devices: display("display-main"), rest: "[hall.kiosk]\nmain_display = \"display-main\"\n"))
        let windows = await BenchDaemon.start(try config("windows", devices: display("display-3"), rest: "[[hall.window]]\nnumber = 3\ndisplay = \"display-3\"\n"))
        defer {
            Task {
                await kiosk.stop()
                await windows.stop()
            }
        }
        for client in [kiosk.client, windows.client] {
            for _ in 0..<500 {
                if let r = try? await client.send("GET", "/v1/hall"), r.status == 200 { break }
                try await Task.sleep(for: .milliseconds(20))
            }
        }
        let calls = 200
        for _ in 0..<calls { let _: Ticket = try await kiosk.client.call("POST", "/v1/tickets", json: IssueRequest(service: "A")) }
        let _: HallWindow = try await windows.client.call("PUT", "/v1/windows/3/status", json: WindowStatusRequest(state: .open))
        // Every ticket known on the windows PC before the calls start.
        for _ in 0..<500 {
            let waiting: [Ticket] = try await windows.client.call("GET", "/v1/tickets?state=waiting")
            if waiting.count == calls { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        let mainShows = ArrivalWatch(client: kiosk.client, device: "display-main")
        let windowShows = ArrivalWatch(client: windows.client, device: "display-3")
        try await mainShows.ready()
        try await windowShows.ready()
        var remote: [Double] = [], local: [Double] = []
        for i in 0..<calls {
            if i > 0 { let _: Ticket = try await windows.client.call("POST", "/v1/windows/3/complete") }
            let start = ContinuousClock.now
            let t: Ticket = try await windows.client.call("POST", "/v1/windows/3/call-next")
            local.append(try await windowShows.time(of: t.number, since: start))
            remote.append(try await mainShows.time(of: t.number, since: start))
        }
        mainShows.stop()
        windowShows.stop()
        func p(_ values: [Double], _ q: Double) -> Double { values.sorted()[min(values.count - 1, Int(Double(values.count) * q))] }
        let note =
            "\(calls) calls, one after another: POST /v1/windows/3/call-next on the windows PC's halld until display.content of the kiosk PC's main display names the number (ticket.called appended in PostgreSQL, NOTIFY, followed, applied); baseline: the same call until window 3's own display on the windows PC shows it. Both hallds in one process, the store on the same machine."
        return [
            Row(
                name: "cross-PC call to the other PC's main display, p50", unit: "ms", baseline: p(local, 0.5), halld: p(remote, 0.5), higherIsBetter: false,
                target: "report", met: true, note: note),
            Row(
                name: "cross-PC call to the other PC's main display, p99", unit: "ms", baseline: p(local, 0.99), halld: p(remote, 0.99), higherIsBetter: false,
                target: "under 1 s (the issue's test bound)", met: p(remote, 0.99) < 1000),
        ]
    }
}

/// When a display of a halld showed a text: its `display.content` events, stamped
/// as they arrive.
final class ArrivalWatch: Sendable {
    final class Arrivals: Sendable {
        let list = Mutex<[(text: String, at: ContinuousClock.Instant)]>([])
    }
    private let seen = Arrivals()
    private let task: Task<Void, Never>

    init(client: HallClient, device: String) {
        let seen = seen
        task = Task {
            do {
                for try await message in client.events("/v1/events?types=display") {
                    guard message.event == "display.content", message.data.contains("\"\(device)\"") else { continue }
                    let at = ContinuousClock.now
                    seen.list.withLock { $0.append((message.data, at)) }
                }
            } catch {}
        }
    }

    /// The stream is open once halld answered it; a moment for that.
    func ready() async throws { try await Task.sleep(for: .milliseconds(300)) }

    /// Milliseconds from `start` until a content naming `number` arrived.
    func time(of number: String, since start: ContinuousClock.Instant) async throws -> Double {
        let deadline = ContinuousClock.now + .seconds(10)
        while ContinuousClock.now < deadline {
            if let hit = seen.list.withLock({ $0.first { $0.text.contains(number) && $0.at >= start } }) {
                let d = hit.at - start
                return Double(d.components.seconds) * 1000 + Double(d.components.attoseconds) / 1e15
            }
            try await Task.sleep(for: .microseconds(200))
        }
        throw BenchError("\(number) did not show within 10 s")
    }

    func stop() { task.cancel() }
}
