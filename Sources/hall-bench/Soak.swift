import ArgumentParser
import CSQLiteBench
import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A halld process of the release build with a small hall of simulated devices,
/// for the load and crash runs (`make soak`).
struct SoakHall {
    let dir: String
    let halld: String
    var socket: String { dir + "/halld.sock" }
    var database: String { dir + "/state/halld.sqlite" }

    init(halld: String) throws {
        self.halld = halld
        dir = NSTemporaryDirectory() + "hall-soak-\(getpid())"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        var config = """
            [api]
            socket = "\(dir)/halld.sock"
            max_connections = 1000
            [storage]
            state_dir = "\(dir)/state"
            [log]
            level = "critical"
            [[device]]
            id = "scanner-1"
            kind = "scanner"
            driver = "simulated"
            [[device]]
            id = "ticket-printer"
            kind = "printer"
            driver = "simulated"

            """
        for n in 1...3 {
            config += "[[device]]\nid = \"keypad-\(n)\"\nkind = \"keypad\"\ndriver = \"simulated\"\n"
            config += "[[device]]\nid = \"display-\(n)\"\nkind = \"display\"\ndriver = \"simulated\"\n"
        }
        config += "[hall]\nname = \"soak\"\nrating_timeout_seconds = 5\n"
        config += "[[hall.service]]\ncode = \"A\"\nname = \"社会保障\"\n[[hall.service]]\ncode = \"B\"\nname = \"不动产登记\"\n"
        for n in 1...3 { config += "[[hall.window]]\nnumber = \(n)\ndisplay = \"display-\(n)\"\nkeypad = \"keypad-\(n)\"\nservices = [\"A\", \"B\"]\n" }
        config += "[hall.kiosk]\nprinter = \"ticket-printer\"\n"
        try config.write(toFile: dir + "/halld.toml", atomically: true, encoding: .utf8)
    }

    func remove() { try? FileManager.default.removeItem(atPath: dir) }

    /// Opens the three windows, as clerks do in the morning.
    func openWindows() {
        guard let c = try? ApiBench.Conn(socket) else { return }
        for n in 1...3 { _ = c.request("PUT", "/v1/windows/\(n)/status", json: #"{"state":"open"}"#) }
    }

    /// Starts halld and waits until /v1/health answers.
    func start() throws -> Process {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: halld)
        p.arguments = ["--config", dir + "/halld.toml"]
        p.standardInput = FileHandle.nullDevice
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        let until = Date().addingTimeInterval(15)
        while Date() < until {
            if let c = try? ApiBench.Conn(socket), c.request("GET", "/v1/health")?.status == 200 { return p }
            usleep(5_000)
        }
        kill(p.processIdentifier, SIGKILL)
        throw BenchError("halld did not answer /v1/health within 15 s")
    }

    /// `PRAGMA integrity_check` on the database file, as a fresh connection sees it.
    func integrity() -> String {
        var db: OpaquePointer?
        guard sqlite3_open_v2(database, &db, SQLITE_OPEN_READWRITE, nil) == SQLITE_OK else { return "cannot open: \(String(cString: sqlite3_errmsg(db)))" }
        defer { sqlite3_close(db) }
        var stmt: OpaquePointer?
        guard sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &stmt, nil) == SQLITE_OK else { return "cannot check" }
        defer { sqlite3_finalize(stmt) }
        var lines: [String] = []
        while sqlite3_step(stmt) == SQLITE_ROW { lines.append(String(cString: sqlite3_column_text(stmt, 0))) }
        return lines.joined(separator: "; ")
    }
}

func jsonObject(_ bytes: [UInt8]) -> [String: Any]? { try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any] }
func jsonArray(_ bytes: [UInt8]) -> [[String: Any]] { (try? JSONSerialization.jsonObject(with: Data(bytes)) as? [[String: Any]]) ?? [] }

func percentile(_ values: [Double], _ p: Double) -> Double {
    guard !values.isEmpty else { return 0 }
    let sorted = values.sorted()
    return sorted[min(sorted.count - 1, Int(Double(sorted.count - 1) * p + 0.5))]
}

/// Runs `count` threads of `body(i)` and waits for all of them.
func onThreads(_ count: Int, _ body: @escaping @Sendable (Int) -> Void) {
    let group = DispatchGroup()
    for i in 0..<count {
        group.enter()
        let t = Thread {
            body(i)
            group.leave()
        }
        t.stackSize = 256 * 1024
        t.start()
    }
    group.wait()
}

private let isoMillis = Date.ISO8601FormatStyle(includingFractionalSeconds: true)

/// `hall-bench soak`: many clients at once for a bounded time.
struct Soak: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Load: concurrent clients mixing reads, ticket issues, calls and event subscriptions, one subscriber that never reads.")

    @Option(help: "Concurrent clients.") var clients = 200
    @Option(help: "Seconds of load.") var seconds = 30.0

    struct Tally: Sendable {
        var requests = 0
        var serverErrors = 0
        var transportErrors = 0
        var expected4xx = 0
        var unexpected: [String] = []
        var readLatencies: [Double] = []
        var latencyByPath: [String: [Double]] = [:]
        var issued = 0
    }

    func run() throws {
        let halld = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent().appendingPathComponent("halld").path
        let result = try Self.load(halld: halld, clients: clients, seconds: seconds)
        FileHandle.standardOutput.write(Data(result.markdown.utf8))
        if !result.ok { throw ExitCode.failure }
    }

    /// The soak's rows of BENCHMARKS.md: 200 clients for `seconds`, the latencies of
    /// the routes the issue set goals for; the baseline column holds the goal.
    static func rows(halld: String, seconds: Double) throws -> [Row] {
        let result = try load(halld: halld, clients: 200, seconds: seconds)
        let failures = result.ok ? "" : " This run had errors, so no row is met: " + result.markdown.split(separator: "\n").filter { $0.hasPrefix("unexpected") || $0.contains("5xx") || $0.contains("transport") }.joined(separator: "; ")
        func row(_ route: String, _ p: Double, goal: Double, note: String = "") -> Row {
            let ms = percentile(result.latencyByRoute[route] ?? [], p)
            return Row(
                name: "soak, 200 clients: \(route) p\(Int(p * 100))", unit: "ms", baseline: goal, halld: ms, higherIsBetter: false,
                target: "under \(Int(goal)) ms (baseline column is the goal)", met: result.ok && ms < goal && result.latencyByRoute[route] != nil, note: note)
        }
        return [
            row("POST /v1/tickets", 0.5, goal: 20,
                note: "hall-bench soak --clients 200 --seconds \(Int(seconds)) (what make soak runs, shorter) against a release halld: 20 event subscribers, 20 ticket issuers (one ticket each 0.2 s), 6 clerks calling and completing, 153 readers (devices, hall, waiting tickets, info), and one subscriber that never reads; the queue grows to thousands of waiting tickets. Latency from the request's first byte written to its answer's last byte read, on the client's side; clients and halld share the 2 cores. The baseline column holds the issue's goal, not a measurement.\(failures)"),
            row("POST /v1/tickets", 0.99, goal: 100),
            row("GET /v1/hall", 0.5, goal: 10),
            row("GET /v1/tickets?state=waiting", 0.5, goal: 10),
        ]
    }

    /// What a load run found: its table, whether nothing went wrong, and the
    /// latencies (ms) of each route.
    struct Result {
        var markdown: String
        var ok: Bool
        var latencyByRoute: [String: [Double]]
    }

    /// `clients` clients against a release halld for `seconds` (`make soak`, and the
    /// soak rows of `make bench`).
    static func load(halld: String, clients: Int, seconds: Double) throws -> Result {
        let hall = try SoakHall(halld: halld)
        defer { hall.remove() }
        let daemon = try hall.start()
        defer {
            kill(daemon.processIdentifier, SIGTERM)
            daemon.waitUntilExit()
        }
        hall.openWindows()
        usleep(500_000)
        let pid = daemon.processIdentifier
        let rssBefore = ApiBench.rssMiB(pid)
        let tally = Mutex(Tally())
        let eventLatencies = Mutex<(before: [Double], after: [Double])>(([], []))
        let start = Date()
        let stuckAt = start.addingTimeInterval(seconds / 3)
        let end = start.addingTimeInterval(seconds)
        let rssSamples = Mutex<[Double]>([])
        let sampler = Thread {
            while Date() < end {
                rssSamples.withLock { $0.append(ApiBench.rssMiB(pid)) }
                Thread.sleep(forTimeInterval: 0.5)
            }
        }
        sampler.start()
        // A subscriber that never reads, connected a third of the way in.
        let stuck = Mutex<ApiBench.Conn?>(nil)
        let stuckThread = Thread {
            Thread.sleep(until: stuckAt)
            if let c = try? ApiBench.Conn(hall.socket) {
                c.send(Array("GET /v1/events HTTP/1.1\r\nHost: halld\r\n\r\n".utf8))
                stuck.withLock { $0 = c }
            }
        }
        stuckThread.start()

        let subscribers = max(1, clients / 10)
        let issuers = max(1, clients / 10)
        let clerks = 6
        let socket = hall.socket
        onThreads(clients - 1) { i in
            guard let c = try? ApiBench.Conn(socket) else {
                tally.withLock { $0.transportErrors += 1 }
                return
            }
            var tv = timeval(tv_sec: 10, tv_usec: 0)
            setsockopt(c.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
            if i < subscribers {
                // Event subscribers: the delay from an event's time to its arrival.
                c.send(Array("GET /v1/events HTTP/1.1\r\nHost: halld\r\n\r\n".utf8))
                var pending = ""
                while Date() < end {
                    let bytes = c.readSome()
                    if bytes.isEmpty {
                        tally.withLock { $0.transportErrors += 1; $0.unexpected.append("subscriber \(i) lost its stream") }
                        return
                    }
                    let now = Date()
                    pending += String(decoding: bytes, as: UTF8.self)
                    while let r = pending.range(of: "\n\n") {
                        let message = pending[..<r.lowerBound]
                        pending = String(pending[r.upperBound...])
                        guard let data = message.split(separator: "\n").first(where: { $0.hasPrefix("data: ") }),
                            let object = jsonObject(Array(data.dropFirst(6).utf8)), let time = object["time"] as? String, let t = try? isoMillis.parse(time)
                        else { continue }
                        let ms = now.timeIntervalSince(t) * 1000
                        eventLatencies.withLock { now < stuckAt ? $0.before.append(ms) : $0.after.append(ms) }
                    }
                }
                return
            }
            var n = 0
            while Date() < end {
                n += 1
                let (method, path, json, pause): (String, String, String?, Double)
                var kind = "read"
                if i < subscribers + issuers {
                    (method, path, json, pause) = ("POST", "/v1/tickets", n % 3 == 0 ? #"{"service":"B"}"# : #"{"service":"A"}"#, 0.2)
                    kind = "issue"
                } else if i < subscribers + issuers + clerks {
                    let window = (i % 3) + 1
                    (method, path, json, pause) = ("POST", n % 2 == 1 ? "/v1/windows/\(window)/call-next" : "/v1/windows/\(window)/complete", nil, 0.1)
                    kind = "clerk"
                } else {
                    let paths = ["/v1/devices", "/v1/hall", "/v1/tickets?state=waiting", "/v1/info", "/v1/devices/keypad-1"]
                    (method, path, json, pause) = ("GET", paths[n % paths.count], nil, 0.05)
                }
                let t0 = ContinuousClock.now
                let reply = c.request(method, path, json: json)
                let d = ContinuousClock.now - t0
                tally.withLock { t in
                    t.requests += 1
                    guard let reply else {
                        t.transportErrors += 1
                        return
                    }
                    if reply.status >= 500 {
                        t.serverErrors += 1
                        t.unexpected.append("\(method) \(path): \(reply.status) \(String(decoding: reply.body.prefix(200), as: UTF8.self))")
                    } else if reply.status >= 400 {
                        // A clerk completing with nobody at the window, or calling an empty queue, is told so.
                        if kind == "clerk" && reply.status == 409 { t.expected4xx += 1 } else { t.unexpected.append("\(method) \(path): \(reply.status)") }
                    } else if kind == "read" {
                        t.readLatencies.append(Double(d.components.attoseconds) / 1e15 + Double(d.components.seconds) * 1000)
                    } else if kind == "issue" {
                        t.issued += 1
                    }
                    if reply.status < 500 {
                        let route = "\(method) \(path.replacingOccurrences(of: "/[0-9]+/", with: "/N/", options: .regularExpression))"
                        t.latencyByPath[route, default: []].append(Double(d.components.attoseconds) / 1e15 + Double(d.components.seconds) * 1000)
                    }
                }
                if reply == nil { return }
                Thread.sleep(forTimeInterval: pause)
            }
        }
        sampler.cancel()
        // The stuck subscriber: was it let go (lagged, then closed) instead of holding memory?
        let stuckOutcome: String = stuck.withLock { c in
            guard let c else { return "never connected" }
            var tv = timeval(tv_sec: 5, tv_usec: 0)
            setsockopt(c.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
            var all = [UInt8]()
            while true {
                let b = c.readSome()
                if b.isEmpty { break }
                all += b
                if all.count > 64 * 1024 * 1024 { break }
            }
            let text = String(decoding: all, as: UTF8.self)
            return text.contains("event: lagged") ? "sent 'lagged' and closed after \(all.count / 1024) KiB" : "\(all.count / 1024) KiB, no lagged event"
        }
        Thread.sleep(forTimeInterval: 5)
        let rssAfter = ApiBench.rssMiB(pid)
        let t = tally.withLock { $0 }
        let lat = eventLatencies.withLock { $0 }
        let peak = rssSamples.withLock { $0.max() ?? 0 }
        let alive = kill(pid, 0) == 0
        let ok = alive && t.serverErrors == 0 && t.transportErrors == 0 && t.unexpected.isEmpty
        var out = "| figure | value |\n|---|---|\n"
        out += "| clients | \(clients) (\(subscribers) event subscribers, \(issuers) ticket issuers, \(clerks) clerks, \(clients - 1 - subscribers - issuers - clerks) readers, 1 subscriber that never reads) |\n"
        out += "| duration | \(Int(seconds)) s |\n"
        out += "| requests | \(t.requests) (\(Int(Double(t.requests) / seconds))/s), tickets issued \(t.issued) |\n"
        out += "| 5xx | \(t.serverErrors) |\n| transport errors | \(t.transportErrors) |\n| other 4xx | \(t.unexpected.count) unexpected, \(t.expected4xx) expected (409: call-next on an empty queue, complete with nobody called) |\n"
        out += String(format: "| read latency | p50 %.2f ms, p99 %.2f ms |\n", percentile(t.readLatencies, 0.5), percentile(t.readLatencies, 0.99))
        out += String(
            format: "| event delivery to the other subscribers | before the stuck subscriber: p50 %.1f ms, p99 %.1f ms (%d events); with it: p50 %.1f ms, p99 %.1f ms (%d events) |\n",
            percentile(lat.before, 0.5), percentile(lat.before, 0.99), lat.before.count, percentile(lat.after, 0.5), percentile(lat.after, 0.99), lat.after.count)
        for (path, values) in t.latencyByPath.sorted(by: { $0.key < $1.key }) {
            out += String(format: "| latency %@ | p50 %.2f ms, p99 %.2f ms (%d) |\n", path, percentile(values, 0.5), percentile(values, 0.99), values.count)
        }
        out += "| the subscriber that never reads | \(stuckOutcome) |\n"
        out += String(format: "| halld RSS | before %.1f MiB, peak during %.1f MiB, 5 s after %.1f MiB |\n", rssBefore, peak, rssAfter)
        out += "| daemon alive at the end | \(alive ? "yes" : "NO") |\n"
        for line in t.unexpected.prefix(10) { out += "unexpected: \(line)\n" }
        return Result(markdown: out, ok: ok, latencyByRoute: t.latencyByPath)
    }
}
