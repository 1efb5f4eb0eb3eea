import ChildProcess
import DeviceKit
import Foundation
import Hall
import HallAPIModels
import HallClient
import Testing

@testable import HallDaemon

/// The real daemon on a real Unix socket, driven through HallClient (hallctl's client).
@Suite("Daemon on its Unix socket", .timeLimit(.minutes(3)))
struct SocketTests {
    @Test("every route family answers through the socket; a rating reaches the event stream")
    func routeFamilies() async throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let config = try simulatedConfig(dir: dir)
        try await withDaemon(config) { socket in
            let client = HallClient(socketPath: socket)
            let info: InfoResponse = try await client.call("GET", "/v1/info")
            #expect(info.role == .technician, "this test runs as root or as the daemon's own user")
            #expect(info.uid == getuid() && info.pid == getpid(), "identity comes from SO_PEERCRED")
            let health = try await client.send("GET", "/v1/health")
            #expect(health.status == 200)

            let devices: [DeviceSummary] = try await client.call("GET", "/v1/devices")
            #expect(devices.map(\.id.rawValue) == ["scanner-1", "ticket-printer", "keypad-1", "display-1", "display-2", "keypad-2", "display-main", "speaker-1"])
            #expect(devices.allSatisfy { $0.state == .online })
            let detail: DeviceDetail = try await client.call("GET", "/v1/devices/scanner-1")
            #expect(detail.capabilities.sources == [.flatbed, .adf, .adfDuplex])
            let report: HealthReport = try await client.call("POST", "/v1/devices/display-1/health", json: HealthCheckRequest(level: .external))
            #expect(report.passed)

            // Display content.
            let shown: DisplayContent = try await client.call("PUT", "/v1/displays/display-1/content", json: DisplayContent(lines: ["A012 请到3号窗口"], effect: .flash))
            #expect(shown.lines == ["A012 请到3号窗口"])
            let now: DisplayContent = try await client.call("GET", "/v1/displays/display-1/content")
            #expect(now == shown)

            // A rating: request, press, and the event stream carries it.
            let start = info.lastEventSeq
            let job: Job = try await client.call("POST", "/v1/keypads/keypad-1/ratings", json: RatingJobRequest(ticket: "A012", timeoutSeconds: 30))
            var stream = client.events("/v1/events?since=\(start)&types=keypad,rating.job").makeAsyncIterator()
            // The job is processing once its first event is out; then the key comes.
            let first = try #require(try await stream.next())
            #expect(first.event == EventType.ratingJob)
            let press: PressResponse = try await client.call("POST", "/v1/keypads/keypad-1/press", json: PressRequest(level: "非常满意"))
            #expect(press.rated)
            var seen: Set<String> = []
            while let m = try await stream.next() {
                seen.insert(m.event)
                if m.event == EventType.keypadRating {
                    let event = try JSONDecoder().decode(HallEvent.self, from: Data(m.data.utf8))
                    #expect(event.data["level"]?.stringValue == "verySatisfied")
                    #expect(event.data["ticket"]?.stringValue == "A012")
                }
                if m.event == EventType.ratingJob, m.data.contains("\"completed\"") { seen.insert("completed") }
                if seen.isSuperset(of: [EventType.keypadKey, EventType.keypadRating, "completed"]) { break }
            }
            let done: Job = try await client.call("GET", "/v1/rating-jobs/\(job.id)")
            #expect(done.rating?.level == .verySatisfied)

            // A scan: pages can be fetched while and after the job runs.
            let scan: Job = try await client.call("POST", "/v1/scanners/scanner-1/jobs", json: ScanJobRequest(source: .adf, mode: .gray, resolution: 75))
            var scanned = scan
            scanned = try await poll("the job at " + "/v1/scan-jobs/\(scan.id)", { () async throws -> Job in try await client.call("GET", "/v1/scan-jobs/\(scan.id)") }, until: { $0.state.isFinal })
            #expect(scanned.state == .completed)
            #expect(scanned.pages?.count == 5, "the simulated ADF holds 5 sheets")
            let page = try await client.send("GET", "/v1/scan-jobs/\(scan.id)/pages/5")
            #expect(page.status == 200 && page.headers["content-type"] == "image/png")
            #expect(page.body.count == scanned.pages?.last?.bytes)
            #expect(FileManager.default.fileExists(atPath: "\(dir)/state/spool/\(scan.id)/page-5.png"))

            // A print: the bytes reach the printer as sent.
            let ticket = Data([0x1B, 0x40, 0x1C, 0x26]) + Data("A012".utf8) + Data([0x1D, 0x56, 0x42, 0x00])
            let printReply = try await client.send("POST", "/v1/printers/ticket-printer/jobs", body: ticket, contentType: "application/vnd.escpos")
            #expect(printReply.status == 202)
            #expect(printReply.headers["location"]?.hasPrefix("/v1/print-jobs/") == true)
            var printed: Job = try HallClient.decode(printReply)
            while !printed.state.isFinal { printed = try await client.call("GET", printReply.headers["location"]!) }
            #expect(printed.print?.bytes == ticket.count)

            // Faults through the socket, visible in state and reasons.
            let jammed: DeviceDetail = try await client.call("POST", "/v1/devices/ticket-printer/faults", json: FaultRequest(fault: .jam))
            #expect(jammed.state == .userError && jammed.reasons == ["media-jam-error"])
            let rejected = try await client.send("POST", "/v1/printers/ticket-printer/jobs", body: ticket, contentType: "application/vnd.escpos")
            #expect(rejected.status == 503 && rejected.apiError?.reasons == ["media-jam-error"])
            let cleared: DeviceDetail = try await client.call("POST", "/v1/devices/ticket-printer/faults", json: FaultRequest(fault: .clear))
            #expect(cleared.state == .online)
            let bad = try await client.send("POST", "/v1/devices/keypad-1/faults", body: Data("{\"fault\":".utf8), contentType: "application/json")
            #expect(bad.status == 400 && bad.apiError?.code == .invalidData)
        }
        #expect(!FileManager.default.fileExists(atPath: config.socket), "the socket file is removed at shutdown")
    }

    @Test("an event-stream client resumes across a daemon restart and loses nothing")
    func resumeAcrossRestart() async throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let config = try simulatedConfig(dir: dir)
        // First life: a few events, the client reads some of them and remembers the last id.
        let (lastRead, lastStored) = try await withDaemon(config) { socket in
            let client = HallClient(socketPath: socket)
            var it = client.events("/v1/events?since=0").makeAsyncIterator()
            var last: Int64 = 0
            for _ in 0..<3 { last = Int64(try #require(try await it.next()?.id).flatMap { Int64($0) } ?? 0) }
            for level in ["1", "2", "3"] {
                let _: PressResponse = try await client.call("POST", "/v1/keypads/keypad-1/press", json: PressRequest(level: level))
            }
            let info: InfoResponse = try await client.call("GET", "/v1/info")
            return (last, info.lastEventSeq)
        }
        #expect(lastRead == 3)
        // Second life: the client resumes with Last-Event-ID and gets every later event once, in order.
        try await withDaemon(config) { socket in
            let client = HallClient(socketPath: socket)
            let _: PressResponse = try await client.call("POST", "/v1/keypads/keypad-1/press", json: PressRequest(level: "5"))
            let info: InfoResponse = try await client.call("GET", "/v1/info")
            #expect(info.lastEventSeq > lastStored)
            var ids: [Int64] = []
            var types: [String] = []
            for try await m in client.events("/v1/events", headers: ["Last-Event-ID": "\(lastRead)"]) {
                ids.append(Int64(m.id ?? "") ?? -1)
                types.append(m.event)
                if ids.last == info.lastEventSeq { break }
            }
            #expect(ids == Array((lastRead + 1)...info.lastEventSeq), "no gap, no repeat")
            #expect(types.contains(EventType.daemonStopping) && types.contains(EventType.daemonStarted))
            #expect(types.filter { $0 == EventType.keypadKey }.count == 4)
        }
    }

    @Test("a second daemon on the same socket is refused; a stale socket file is replaced")
    func socketFile() async throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let config = try simulatedConfig(dir: dir)
        try await withDaemon(config) { socket in
            #expect(throws: SocketFile.InUse.self) { try SocketFile.prepare(socket) }
            let attrs = try FileManager.default.attributesOfItem(atPath: socket)
            #expect((attrs[.posixPermissions] as? Int) == 0o660)
        }
        // A file left behind (as after a crash) does not stop the next start.
        #expect(FileManager.default.createFile(atPath: config.socket, contents: Data()))
        try await withDaemon(config) { socket in
            let reply = try await HallClient(socketPath: socket).send("GET", "/v1/health")
            #expect(reply.status == 200)
        }
    }
}

import SQLiteStore

@Suite("hallctl's global options", .timeLimit(.minutes(3)))
struct HallctlOptionTests {
    @Test("--socket and --json work before the verb (hallctl --socket PATH VERB) as after it")
    func globalOptionsFirst() async throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let config = try simulatedConfig(dir: dir)
        try await withDaemon(config) { socket in
            let hallctl = builtExecutable("hallctl")
            let before = try await runCommand([hallctl, "--socket", socket, "devices"])
            #expect(before.status == 0, "\(before.output)")
            #expect(before.output.contains("display-main"), "\(before.output)")
            let after = try await runCommand([hallctl, "devices", "--socket", socket])
            #expect(after.output == before.output)
            let json = try await runCommand([hallctl, "--json", "--socket=\(socket)", "ticket", "issue", "A"])
            #expect(json.status == 0, "\(json.output)")
            let ticket = try JSONDecoder().decode(Ticket.self, from: Data(json.output.utf8))
            #expect(ticket.number == "A001")
            // Nothing to hand over: the options alone are still refused with usage.
            let alone = try await runCommand([hallctl, "--socket", socket])
            #expect(alone.status != 0 || alone.output.contains("USAGE"), "\(alone.output)")
        }
    }
}

@Suite("device counters across restarts", .timeLimit(.minutes(3)))
struct CounterPersistenceTests {
    @Test("counters persist: key presses, resets and opens counted, the daemon restarted, the same totals read back and counting goes on")
    func countRestartRead() async throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let config = try simulatedConfig(dir: dir)
        let first: DeviceCounters = try await withDaemon(config) { socket in
            let client = HallClient(socketPath: socket)
            for level in ["满意", "基本满意", "满意"] {
                let _: PressResponse = try await client.call("POST", "/v1/keypads/keypad-1/press", json: PressRequest(level: level))
            }
            let _: DeviceDetail = try await client.call("POST", "/v1/devices/keypad-1/reset")
            // Counters are written as they happen; wait until the reset is counted.
            return try await poll("keypad-1's counters", { () async throws -> DeviceCounters in
                let d: DeviceDetail = try await client.call("GET", "/v1/devices/keypad-1")
                return d.counters
            }, until: { $0[.keyPresses] == 3 && $0[.resets] == 1 })
        }
        #expect(first[.opens] == 2, "opened at start and by the reset: \(first)")
        try await withDaemon(config) { socket in
            let client = HallClient(socketPath: socket)
            let again: DeviceDetail = try await client.call("GET", "/v1/devices/keypad-1")
            #expect(again.counters[.keyPresses] == 3, "\(again.counters)")
            #expect(again.counters[.resets] == 1)
            #expect(again.counters[.opens] == 3, "one more open after the restart: \(again.counters)")
            let _: PressResponse = try await client.call("POST", "/v1/keypads/keypad-1/press", json: PressRequest(level: "satisfied"))
            _ = try await poll("a fourth key press counted", { () async throws -> DeviceCounters in
                let d: DeviceDetail = try await client.call("GET", "/v1/devices/keypad-1")
                return d.counters
            }, until: { $0[.keyPresses] == 4 })
        }
    }
}

@Suite("interactive health checks", .timeLimit(.minutes(3)))
struct InteractiveCheckTests {
    @Test("a display shows a test line and waits for the technician's confirmation, then shows again what it showed; a keypad waits for a key; printers and scanners offer none")
    func interactive() async throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let config = try simulatedConfig(dir: dir)
        try await withDaemon(config) { socket in
            let client = HallClient(socketPath: socket)
            let before: DisplayContent = try await client.call("PUT", "/v1/displays/display-1/content", json: DisplayContent(lines: ["A012 请到1号窗口"], effect: .flash))
            let info: InfoResponse = try await client.call("GET", "/v1/info")
            // The display: its check waits until the technician says what was seen.
            let check = Task { () async throws -> HealthReport in
                try await client.call("POST", "/v1/devices/display-1/health", json: HealthCheckRequest(level: .interactive))
            }
            let shown = try await poll("the test line on display-1", { () async throws -> DisplayContent in
                try await client.call("GET", "/v1/displays/display-1/content")
            }, until: { $0.lines.first?.hasPrefix("显示测试") == true })
            #expect(shown.lines.allSatisfy { displayColumns($0) <= 16 }, "\(shown.lines)")
            var announced: SSEMessage?
            for try await m in client.events("/v1/events?since=\(info.lastEventSeq)&types=health") {
                announced = m
                break
            }
            #expect(announced?.event == EventType.healthInteractive && announced?.data.contains("display-1") == true, "\(String(describing: announced))")
            let confirmed: HealthConfirmation = try await client.call("POST", "/v1/devices/display-1/health/confirm", json: HealthConfirmation(passed: true, note: "清晰"))
            #expect(confirmed.passed)
            let report = try await check.value
            #expect(report.passed && report.level == .interactive, "\(report.text)")
            #expect(report.checks.contains { $0.name == "technician confirmation" && $0.detail.contains("清晰") }, "\(report.text)")
            let after: DisplayContent = try await client.call("GET", "/v1/displays/display-1/content")
            #expect(after.lines == before.lines, "the display shows again what it showed")

            // The technician saw it wrong: the check fails with the note.
            let failing = Task { () async throws -> HealthReport in
                try await client.call("POST", "/v1/devices/display-2/health", json: HealthCheckRequest(level: .interactive))
            }
            _ = try await poll("the test line on display-2", { () async throws -> DisplayContent in
                try await client.call("GET", "/v1/displays/display-2/content")
            }, until: { $0.lines.first?.hasPrefix("显示测试") == true })
            // From another terminal: hallctl confirm.
            let confirmed2 = try await runCommand([builtExecutable("hallctl"), "--socket", socket, "confirm", "display-2", "--failed", "--note", "第二行缺字"])
            #expect(confirmed2.status == 0 && confirmed2.output.contains("reported wrong"), "\(confirmed2.output)")
            let failed = try await failing.value
            #expect(!failed.passed && failed.text.contains("第二行缺字"), "\(failed.text)")

            // The keypad: a key pressed by a person (the simulated keypad's press route) passes it.
            let keyCheck = Task { () async throws -> HealthReport in
                try await client.call("POST", "/v1/devices/keypad-1/health", json: HealthCheckRequest(level: .interactive))
            }
            _ = try await poll("keypad-1 answering a press", { () async throws -> PressResponse in
                try await client.call("POST", "/v1/keypads/keypad-1/press", json: PressRequest(level: "satisfied"))
            }, until: { $0.rated })
            let keyReport = try await keyCheck.value
            #expect(keyReport.passed && keyReport.checks.contains { $0.name == "key press" && $0.detail.contains("满意") }, "\(keyReport.text)")

            // Not offered for printers and scanners; a confirmation nobody waits for is refused.
            for id in ["ticket-printer", "scanner-1"] {
                let refused = try await client.send("POST", "/v1/devices/\(id)/health", body: Data(#"{"level":"interactive"}"#.utf8), contentType: "application/json")
                #expect(refused.status == 409 && refused.apiError?.code == .unsupportedCommand, "\(id): \(refused.text)")
            }
            let nobody = try await client.send("POST", "/v1/devices/display-1/health/confirm", body: Data(#"{"passed":true}"#.utf8), contentType: "application/json")
            #expect(nobody.status == 409, "\(nobody.text)")
        }
    }
}

@Suite("event resume", .timeLimit(.minutes(3)))
struct EventResumeTests {
    /// Stores `count` events of mixed types in the state folder's database before the daemon starts.
    static func prefill(_ stateDir: String, count: Int) async throws -> [HallEvent] {
        try FileManager.default.createDirectory(atPath: stateDir, withIntermediateDirectories: true)
        let database = try HallDatabase.open(directory: stateDir)
        let log = EventLog(store: database)
        var stored: [HallEvent] = []
        let types = [EventType.deviceStatus, EventType.keypadRating, "ticket.issued", EventType.deviceStatus, EventType.displayContent]
        for i in 0..<count {
            stored.append(try await log.publish(NewEvent(type: types[i % types.count], data: ["i": .number(Double(i))])))
        }
        try database.close()
        return stored
    }

    /// Reads the stream at `path` until an event with an id of at least `until` arrives
    /// (or the deadline): every message, gap and lagged included.
    static func read(_ client: HallClient, _ path: String, until: Int64) async throws -> [SSEMessage] {
        try await withThrowingTaskGroup(of: [SSEMessage]?.self) { group in
            group.addTask {
                var seen: [SSEMessage] = []
                for try await m in client.events(path) where m.event != "heartbeat" {
                    seen.append(m)
                    if (Int64(m.id ?? "") ?? 0) >= until { break }
                }
                return seen
            }
            group.addTask {
                try await Task.sleep(for: .seconds(30))
                return nil
            }
            defer { group.cancelAll() }
            guard let first = try await group.next(), let seen = first else {
                throw EventTimeout(description: "no event \(until) on \(path) within 30 s")
            }
            return seen
        }
    }

    @Test("a resume with ?types= over more than 1 000 stored events of mixed types gets every event of those types, in order")
    func typesOverManyPages() async throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let config = try simulatedConfig(dir: dir)
        let stored = try await Self.prefill(config.stateDir, count: 1_300)
        let ratings = stored.filter { $0.type == EventType.keypadRating }
        let ratingsAndTickets = stored.filter { $0.type == EventType.keypadRating || $0.type.hasPrefix("ticket.") }
        try await withDaemon(config) { socket in
            let client = HallClient(socketPath: socket)
            // One type: 260 ratings spread over 1 300 events (more than two pages of 500).
            let got = try await Self.read(client, "/v1/events?since=0&types=keypad.rating", until: ratings.last!.seq)
            #expect(got.map(\.event).allSatisfy { $0 == EventType.keypadRating }, "\(Set(got.map(\.event)))")
            #expect(got.compactMap { $0.id.flatMap(Int64.init) } == ratings.map(\.seq), "\(got.count) of \(ratings.count) ratings")
            // A type and a family, with Last-Event-ID from the middle of the log.
            let middle = stored[600].seq
            let expected = ratingsAndTickets.filter { $0.seq > middle }
            var resumed: [SSEMessage] = []
            for try await m in client.events("/v1/events?types=keypad.rating,ticket", headers: ["Last-Event-ID": "\(middle)"]) where m.event != "heartbeat" {
                resumed.append(m)
                if (Int64(m.id ?? "") ?? 0) >= expected.last!.seq { break }
            }
            #expect(resumed.compactMap { $0.id.flatMap(Int64.init) } == expected.map(\.seq))
        }
    }

    @Test("a resume from before the oldest event kept starts with an explicit gap event naming the first available id")
    func gap() async throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let config = try simulatedConfig(dir: dir)
        let stored = try await Self.prefill(config.stateDir, count: 50)
        // The first 30 are trimmed, as events.retention_days does.
        let database = try HallDatabase.open(directory: config.stateDir)
        let cut = try await database.writer.write { db in
            try db.execute(sql: "DELETE FROM event WHERE seq <= ?", arguments: [stored[29].seq])
            return db.changesCount
        }
        try database.close()
        #expect(cut == 30)
        try await withDaemon(config) { socket in
            let client = HallClient(socketPath: socket)
            let got = try await Self.read(client, "/v1/events?since=5", until: stored.last!.seq)
            let first = try #require(got.first)
            #expect(first.event == EventType.gap, "\(first)")
            let gap = try JSONDecoder().decode(GapEvent.self, from: Data(first.data.utf8))
            #expect(gap.requestedAfter == 5 && gap.firstAvailable == stored[30].seq, "\(gap)")
            #expect(got.dropFirst().first?.id == "\(stored[30].seq)")
            // A resume inside what is kept has no gap.
            let inside = try await Self.read(client, "/v1/events?since=\(stored[35].seq)", until: stored.last!.seq)
            #expect(inside.first?.id == "\(stored[36].seq)" && !inside.contains { $0.event == EventType.gap })
            // The largest sequence number is a resume from the future: no gap, no crash
            // (schemathesis found an overflow here).
            let far = Task { for try await m in client.events("/v1/events?since=9223372036854775807") where m.event != "heartbeat" { return m.event } ; return "" }
            try await Task.sleep(for: .milliseconds(300))
            far.cancel()
            #expect(try await client.send("GET", "/v1/health").status == 200)
        }
    }
}
