import ChildProcess
import DeviceKit
import Foundation
import HallAPIModels
import HallClient
import Synchronization
@testable import HallDaemon
import Testing

#if canImport(Glibc)
import Glibc
#endif

@Suite("the hall through the API", .timeLimit(.minutes(3)))
struct HallAPITests {
    @Test("the next citizen's rating is asked for even when the one before was rated another way or never pressed (一次一评 per citizen)")
    func nextCitizenIsAsked() async throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let config = try simulatedConfig(dir: dir)
        try await withDaemon(config) { socket in
            let c = HallClient(socketPath: socket)
            let _: HallWindow = try await c.call("PUT", "/v1/windows/1/status", json: WindowStatusRequest(state: .open))
            for _ in 0..<3 { let _: Ticket = try await c.call("POST", "/v1/tickets", json: IssueRequest(service: "A")) }
            // The first citizen rates in the app; the keypad stops asking them.
            let first: Ticket = try await c.call("POST", "/v1/windows/1/call-next")
            let _: Ticket = try await c.call("POST", "/v1/windows/1/complete")
            let byApp: Rating = try await c.call("POST", "/v1/tickets/\(first.id)/rating", json: RatingRequest(level: "5", channel: "app"))
            #expect(byApp.level == .verySatisfied)
            // The second leaves without pressing: the third one's completion ends that request.
            let second: Ticket = try await c.call("POST", "/v1/windows/1/call-next")
            let _: Ticket = try await c.call("POST", "/v1/windows/1/complete")
            let third: Ticket = try await c.call("POST", "/v1/windows/1/call-next")
            let _: Ticket = try await c.call("POST", "/v1/windows/1/complete")
            var pressed: PressResponse?
            for _ in 0..<200 {
                pressed = try await c.call("POST", "/v1/keypads/keypad-1/press", json: PressRequest(level: "2"))
                if pressed?.rated == true { break }
                try await Task.sleep(for: .milliseconds(10))
            }
            #expect(pressed?.rated == true, "the keypad asks the third citizen")
            var ratings: [Rating] = []
            for _ in 0..<200 {
                ratings = try await c.call("GET", "/v1/ratings")
                if ratings.count == 3 { break }
                try await Task.sleep(for: .milliseconds(10))
            }
            let byTicket = Dictionary(ratings.map { ($0.ticket, $0) }, uniquingKeysWith: { a, _ in a })
            #expect(byTicket[first.id]?.channel == "app" && byTicket[first.id]?.level == .verySatisfied)
            #expect(byTicket[second.id] != nil && byTicket[second.id]?.level == nil, "the second is stored as not rated: \(ratings)")
            #expect(byTicket[third.id]?.level == .dissatisfied && byTicket[third.id]?.channel == "evaluator", "\(String(describing: byTicket[third.id]))")
        }
    }

    @Test("scan-to-rate: a QR rating and the keypad compete for one ticket; whichever is first is stored, the other is refused (一次一评)")
    func qrAgainstKeypad() async throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var config = try simulatedConfig(dir: dir)
        config.hall!.ratingURL = "https://hpc.example.gov.cn/rate?t={ticket}"
        try await withDaemon(config) { socket in
            let c = HallClient(socketPath: socket)
            let _: HallWindow = try await c.call("PUT", "/v1/windows/1/status", json: WindowStatusRequest(state: .open))
            func serve() async throws -> Ticket {
                let _: Ticket = try await c.call("POST", "/v1/tickets", json: IssueRequest(service: "A", print: true))
                let _: Ticket = try await c.call("POST", "/v1/windows/1/call-next")
                return try await c.call("POST", "/v1/windows/1/complete")
            }
            func qr(_ t: Ticket) async throws -> Int {
                try await c.send("POST", "/v1/tickets/\(t.id)/rating", body: try JSONEncoder().encode(RatingRequest(level: "满意", channel: "qr")), contentType: "application/json").status
            }
            // The phone first: stored with channel qr; the keypad then has nothing to rate; a second scan is 409.
            let first = try await serve()
            #expect(try await qr(first) == 201)
            let late: PressResponse = try await c.call("POST", "/v1/keypads/keypad-1/press", json: PressRequest(level: "非常不满意"))
            #expect(!late.rated)
            #expect(try await qr(first) == 409)
            // The keypad first: the scan is refused.
            let second = try await serve()
            _ = try await poll("the keypad's rating of \(second.number)", within: .seconds(5)) {
                try await c.call("POST", "/v1/keypads/keypad-1/press", json: PressRequest(level: "基本满意"), as: PressResponse.self)
            } until: { $0.rated }
            _ = try await poll("the keypad's rating stored", within: .seconds(5)) {
                try await c.call("GET", "/v1/ratings", as: [Rating].self)
            } until: { $0.contains { $0.ticket == second.id } }
            #expect(try await qr(second) == 409)
            let ratings: [Rating] = try await c.call("GET", "/v1/ratings")
            #expect(ratings.map(\.channel) == ["qr", "evaluator"] && ratings.map(\.level) == [.satisfied, .basicallySatisfied], "\(ratings)")
        }
    }

    @Test("polled answers kept encoded (GET /v1/hall, GET /v1/devices) follow every change: a ticket, a window, a clerk card, a device's state")
    func polledAnswersFollowChanges() async throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let config = try simulatedConfig(dir: dir)
        try await withDaemon(config) { socket in
            let c = HallClient(socketPath: socket)
            let first = try await c.send("GET", "/v1/hall")
            #expect(try await c.send("GET", "/v1/hall").body == first.body, "unchanged: the same answer")
            let _: Ticket = try await c.call("POST", "/v1/tickets", json: IssueRequest(service: "A"))
            var hall: HallSummary = try await c.call("GET", "/v1/hall")
            #expect(hall.waiting["A"] == 1)
            let _: HallWindow = try await c.call("PUT", "/v1/windows/1/status", json: WindowStatusRequest(state: .open))
            hall = try await c.call("GET", "/v1/hall")
            #expect(hall.windows.first { $0.number == 1 }?.state == .open)
            let called: Ticket = try await c.call("POST", "/v1/windows/1/call-next")
            hall = try await c.call("GET", "/v1/hall")
            #expect(hall.waiting["A"] == 0 && hall.windows.first { $0.number == 1 }?.current?.id == called.id, "\(hall)")
            let _: HallWindow = try await c.call("PUT", "/v1/windows/1/clerk", json: ClerkCard(name: "李娜"))
            hall = try await c.call("GET", "/v1/hall")
            #expect(hall.windows.first { $0.number == 1 }?.clerk?.name == "李娜")

            var devices: [DeviceSummary] = try await c.call("GET", "/v1/devices")
            #expect(devices.first { $0.id.rawValue == "display-1" }?.state == .online)
            let _: DeviceDetail = try await c.call("POST", "/v1/devices/display-1/faults", json: FaultRequest(fault: .unplug))
            devices = try await c.call("GET", "/v1/devices")
            #expect(devices.first { $0.id.rawValue == "display-1" }?.state != .online, "\(devices)")
            let displays: [DeviceSummary] = try await c.call("GET", "/v1/devices?kind=display")
            #expect(!displays.isEmpty && displays.allSatisfy { $0.kind == .display }, "answers are kept per query")
        }
    }

    @Test("issue with print, call on the displays, complete and rate by the keypad, errors with their reasons and fields")
    func flow() async throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let config = try simulatedConfig(dir: dir)
        try await withDaemon(config) { socket in
            let c = HallClient(socketPath: socket)
            let hall: HallSummary = try await c.call("GET", "/v1/hall")
            #expect(hall.services.map(\.code) == ["A", "B"])
            #expect(hall.windows.map(\.state) == [.closed, .closed])

            let t: Ticket = try await c.call("POST", "/v1/tickets", json: IssueRequest(service: "A", print: true))
            #expect(t.number == "A001")
            #expect(t.printJob != nil && t.printError == nil)
            let printed: Job = try await c.call("GET", "/v1/print-jobs/\(t.printJob!)")
            #expect(printed.format == "escpos")

            let unknown = try await c.send("POST", "/v1/tickets", body: Data(#"{"service":"Z"}"#.utf8), contentType: "application/json")
            #expect(unknown.status == 404)
            #expect(unknown.apiError?.field == "service")
            let closed = try await c.send("POST", "/v1/windows/1/call-next")
            #expect(closed.status == 409)
            #expect(closed.apiError?.message.contains("closed") == true)

            let _: HallWindow = try await c.call("PUT", "/v1/windows/1/status", json: WindowStatusRequest(state: .open))
            let nothing = try await c.send("POST", "/v1/windows/1/complete")
            #expect(nothing.status == 409)
            let called: Ticket = try await c.call("POST", "/v1/windows/1/call-next")
            #expect(called.number == "A001")
            let shown: DisplayContent = try await c.call("GET", "/v1/displays/display-1/content")
            #expect(shown.lines == ["A001 请到1号窗口"])
            let same = try await c.send("POST", "/v1/windows/1/transfer", body: Data(#"{"service":"A"}"#.utf8), contentType: "application/json")
            #expect(same.status == 400)
            #expect(same.apiError?.field == "service")
            let early = try await c.send("POST", "/v1/tickets/A001/rating", body: Data(#"{"level":"满意"}"#.utf8), contentType: "application/json")
            #expect(early.status == 409)

            let done: Ticket = try await c.call("POST", "/v1/windows/1/complete")
            #expect(done.state == .done)
            // The window's keypad is asked; the citizen presses 非常满意 on it.
            var pressed = false
            for _ in 0..<200 where !pressed {
                let r: PressResponse = try await c.call("POST", "/v1/keypads/keypad-1/press", json: PressRequest(level: "非常满意"))
                pressed = r.rated
                if !pressed { try await Task.sleep(for: .milliseconds(10)) }
            }
            #expect(pressed)
            var ratings: [Rating] = []
            for _ in 0..<100 where ratings.isEmpty {
                ratings = try await c.call("GET", "/v1/ratings?window=1")
                if ratings.isEmpty { try await Task.sleep(for: .milliseconds(10)) }
            }
            #expect(ratings.map(\.level) == [.verySatisfied])
            #expect(ratings.first?.channel == "evaluator")
            let second = try await c.send("POST", "/v1/tickets/A001/rating", body: Data(#"{"level":"不满意"}"#.utf8), contentType: "application/json")
            #expect(second.status == 409)

            let stats = try await c.send("GET", "/v1/stats?format=csv")
            #expect(stats.status == 200)
            #expect(stats.text.contains(",hall,all,1,1,0,"))
            let waiting: [Ticket] = try await c.call("GET", "/v1/tickets?state=done")
            #expect(waiting.map(\.number) == ["A001"])

            // A scrape of /metrics: requests by route, device states, queues, waiting time.
            let metrics = try await c.send("GET", "/metrics")
            #expect(metrics.status == 200)
            let text = metrics.text
            #expect(text.contains(#"halld_http_requests_total{method="POST",route="/v1/tickets",status="201"} 1"#), "\(text.prefix(2000))")
            #expect(text.contains(#"halld_http_requests_total{method="POST",route="/v1/windows/{n}/complete",status="409"} 1"#))
            #expect(text.contains("halld_http_request_duration_seconds_bucket"))
            #expect(text.contains(#"halld_device_state{device="display-1",kind="display",state="online"} 1"#))
            #expect(text.contains(#"halld_queue_waiting{service="A"} 0"#))
            #expect(text.contains("halld_tickets_issued_today 1"))
            #expect(text.contains("# TYPE halld_device_jobs_total counter") && text.contains("# TYPE halld_ratings_failed_total counter"), "\(text.prefix(3000))")
            #expect(text.contains("halld_ratings_failed_total 0"))
            #expect(text.contains(#"halld_device_jobs_total{device="keypad-1",kind="ratings"} 1"#), "\(text.prefix(3000))")
        }
    }

    @Test("a SIGKILL while clients issue tickets loses no acknowledged ticket and issues no number twice")
    func crash() async throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var text = try String(contentsOfFile: repositoryRoot + "/Config/simulated.toml", encoding: .utf8)
        text = text.replacingOccurrences(of: "socket = \"/run/halld/halld.sock\"", with: "socket = \"\(dir)/halld.sock\"")
            .replacingOccurrences(of: "state_dir = \"/var/lib/halld\"", with: "state_dir = \"\(dir)/state\"")
        try text.write(toFile: dir + "/halld.toml", atomically: true, encoding: .utf8)
        func start() async throws -> Child {
            try await Child.start([builtExecutable("halld"), "--config", dir + "/halld.toml", "--log-level", "critical"])
        }
        let client = HallClient(socketPath: dir + "/halld.sock")
        func waitUp() async throws {
            for _ in 0..<500 {
                if let r = try? await client.send("GET", "/v1/health"), r.status == 200 { return }
                try await Task.sleep(for: .milliseconds(20))
            }
            throw CupsPeer.Failure("halld did not come up")
        }
        let first = try await start()
        try await waitUp()
        // Four clients issue tickets as fast as they can; the daemon is killed under them
        // once they have a dozen (a fixed time gave a loaded machine's debug build too few).
        let issued = Tally()
        let acknowledged = try await withThrowingTaskGroup(of: [Ticket].self) { group in
            for i in 0..<4 {
                group.addTask {
                    var mine: [Ticket] = []
                    while true {
                        guard let t: Ticket = try? await client.call("POST", "/v1/tickets", json: IssueRequest(service: i % 2 == 0 ? "A" : "B")) else { break }
                        mine.append(t)
                        issued.count.add(1, ordering: .relaxed)
                        if mine.count > 150 { break }
                    }
                    return mine
                }
            }
            do {
                try await eventually("a dozen tickets acknowledged before the kill", within: .seconds(30), seen: { "\(issued.count.load(ordering: .relaxed))" }) {
                    issued.count.load(ordering: .relaxed) >= 12
                }
            } catch {
                await first.stop(signal: SIGKILL)
                throw error
            }
            await first.stop(signal: SIGKILL)
            var all: [Ticket] = []
            for try await part in group { all += part }
            return all
        }
        #expect(acknowledged.count > 4, "too few tickets before the kill to prove anything")
        let second = try await start()
        do {
            try await Self.checkAfterCrash(client, acknowledged: acknowledged, waitUp: waitUp)
        } catch {
            await second.stop()
            throw error
        }
        #expect(await second.stop() == 0, "halld's exit status after SIGTERM")
    }

    static func checkAfterCrash(_ client: HallClient, acknowledged: [Ticket], waitUp: () async throws -> Void) async throws {
        try await waitUp()
        let stored: [Ticket] = try await client.call("GET", "/v1/tickets")
        let storedIDs = Set(stored.map(\.id))
        #expect(acknowledged.allSatisfy { storedIDs.contains($0.id) }, "an acknowledged ticket is missing after the crash")
        #expect(Set(stored.map(\.number)).count == stored.count, "a number was issued twice")
        // Numbering goes on after the highest one stored.
        let next: Ticket = try await client.call("POST", "/v1/tickets", json: IssueRequest(service: "A"))
        let highest = stored.filter { $0.service == "A" }.compactMap { Int($0.number.dropFirst()) }.max() ?? 0
        #expect(next.number == String(format: "A%03d", highest + 1))
    }
}

@testable import DeviceKit
@testable import HallAPI
import Prometheus

@Suite("metrics", .timeLimit(.minutes(3)))
struct MetricsTests {
    static func snapshot(_ id: String, _ state: DeviceState, errors: Int64) -> DeviceSnapshot {
        DeviceSnapshot(
            id: DeviceID(id)!, kind: .keypad, driver: "test", name: id, status: DeviceStatus(state), identity: DeviceIdentity(connection: "test"),
            capabilities: DeviceCapabilities(), counters: DeviceCounters([CounterName.communicationErrors.rawValue: errors]), lastError: nil, isOpen: true)
    }

    @Test("device totals are counters that follow the persistent counters; a device no longer there loses its series; the same metric objects serve every scrape")
    func countersAndRemoval() throws {
        let metrics = HallMetrics()
        metrics.updateDevices([Self.snapshot("keypad-1", .online, errors: 3), Self.snapshot("keypad-2", .offline, errors: 0)])
        var text = metrics.registry.emitToString()
        #expect(text.contains("# TYPE halld_device_communication_errors_total counter"), "\(text)")
        #expect(text.contains(#"halld_device_communication_errors_total{device="keypad-1"} 3"#), "\(text)")
        #expect(text.contains(#"halld_device_state{device="keypad-2",kind="keypad",state="offline"} 1"#))
        // Three more errors: the counter adds them (it is not rebuilt nor set back).
        metrics.updateDevices([Self.snapshot("keypad-1", .online, errors: 6)])
        text = metrics.registry.emitToString()
        #expect(text.contains(#"halld_device_communication_errors_total{device="keypad-1"} 6"#), "\(text)")
        #expect(!text.contains(#"device="keypad-2""#), "a removed device's series stay: \(text)")
        // It comes back: its series start again.
        metrics.updateDevices([Self.snapshot("keypad-1", .online, errors: 6), Self.snapshot("keypad-2", .online, errors: 1)])
        text = metrics.registry.emitToString()
        #expect(text.contains(#"halld_device_state{device="keypad-2",kind="keypad",state="online"} 1"#), "\(text)")
        #expect(text.contains(#"halld_device_communication_errors_total{device="keypad-1"} 6"#))
    }
}

/// A count shared by concurrent tasks.
final class Tally: Sendable {
    let count = Atomic<Int>(0)
}
