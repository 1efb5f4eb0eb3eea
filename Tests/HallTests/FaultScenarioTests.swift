import DeviceKit
import Foundation
@testable import HallConfiguration
import HallAPIModels
import HallClient
@testable import HallDaemon
import Simulators
import Synchronization
import Testing

extension PeerTests {
    /// Faults while work is in progress, end to end: the daemon with hall-bus devices on
    /// a pty and simulated scanner and printer, one event-stream client connected from
    /// the first fault to the last.
    @Suite("faults end to end", .timeLimit(.minutes(3)))
    struct FaultScenarioTests {
        struct Seen: Sendable {
            var seq: Int64
            var type: String
            var device: String?
            var state: String?
            var reasons: [String]
        }

        static func parse(_ m: SSEMessage) -> Seen? {
            guard let seq = m.id.flatMap(Int64.init) else { return nil }
            let event = try? JSONDecoder().decode(HallEvent.self, from: Data(m.data.utf8))
            var state: String?
            var reasons: [String] = []
            if case .object(let data)? = event?.data {
                if case .string(let s)? = data["state"] { state = s }
                if case .array(let r)? = data["reasons"] { reasons = r.compactMap { if case .string(let s) = $0 { s } else { nil } } }
            }
            return Seen(seq: seq, type: m.event, device: event?.device?.rawValue, state: state, reasons: reasons)
        }

        @Test("a jam and an unplug mid-scan, paper out at the printer, the serial line hung up and garbage on it: states and reasons right at each step, work resumes, and a connected event stream sees every event once, in order")
        func faults() async throws {
            let dir = try temporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let simulator = FrameBusSimulator()
            simulator.add(.keypad, address: 1)
            simulator.add(.display, address: 2)
            // While `garbage` is above zero, answers arrive behind line noise (a bus full of garbage).
            let garbage = Mutex(0)
            let peer = try PtyPeer(path: dir + "/bus-1") { frame in
                guard let answer = simulator.respond(to: frame) else { return nil }
                let noisy = garbage.withLock { n in
                    n > 0 ? { n -= 1; return true }() : false
                }
                return noisy ? [0x68, 0x00, 0x99, 0x16, 0xFF, 0x13, 0x37] + answer : answer
            }
            defer { peer.hangUpSoon() }
            var config = try simulatedConfig(dir: dir)
            let toml = try String(contentsOfFile: repositoryRoot + "/Config/serial-demo.toml", encoding: .utf8)
                .replacingOccurrences(of: "\".run/bus-1\"", with: "\"\(dir)/bus-1\"")
            var devices = try HallConfig.parse(toml, file: "serial-demo.toml").devices
            // A long feeder, so a fault lands while the job still has sheets to go.
            for i in devices.indices where devices[i].id.rawValue == "scanner-1" { devices[i].settings = .simulated(SimulatedSettings(sheets: 60)) }
            config.devices = devices + config.devices.filter { d in !devices.contains { $0.id == d.id } }
            config.retry = RetryPolicy(initial: .milliseconds(50), maximum: .milliseconds(200))

            try await withDaemon(config) { socket in
                let client = HallClient(socketPath: socket)
                let start: InfoResponse = try await client.call("GET", "/v1/info")
                let live = Mutex<[Seen]>([])
                let reader = Task {
                    for try await m in client.events("/v1/events?since=\(start.lastEventSeq)") {
                        if let s = Self.parse(m) { live.withLock { $0.append(s) } }
                    }
                }
                defer { reader.cancel() }
                func fault(_ device: String, _ f: SimulatedFault) async throws {
                    let r = try await client.send("POST", "/v1/devices/\(device)/faults", body: try JSONEncoder().encode(FaultRequest(fault: f)), contentType: "application/json")
                    #expect(r.status == 200, "\(f) on \(device): \(r.status)")
                }
                func waitState(_ device: String, _ state: DeviceState, _ note: String) async throws -> DeviceDetail {
                    for _ in 0..<400 {
                        let d: DeviceDetail = try await client.call("GET", "/v1/devices/\(device)")
                        if d.state == state { return d }
                        try await Task.sleep(for: .milliseconds(10))
                    }
                    let d: DeviceDetail = try await client.call("GET", "/v1/devices/\(device)")
                    Issue.record("\(device) did not reach \(state) (\(note)); it is \(d.state) \(d.reasons)")
                    return d
                }
                func scanUntilFault(_ f: SimulatedFault) async throws -> Job {
                    let job: Job = try await client.call("POST", "/v1/scanners/scanner-1/jobs", json: ScanJobRequest(source: .adf, mode: .color, resolution: 150, format: "jpeg"))
                    // Fast polling on purpose: the fault must land while sheets are still to go.
                    _ = try await poll("a first page of \(job.id)", every: .milliseconds(1), { () async throws -> Job in try await client.call("GET", "/v1/scan-jobs/\(job.id)") }, until: { !($0.pages ?? []).isEmpty || $0.state.isFinal })
                    try await fault("scanner-1", f)
                    let current = try await poll("the job at " + "/v1/scan-jobs/\(job.id)", { () async throws -> Job in try await client.call("GET", "/v1/scan-jobs/\(job.id)") }, until: { $0.state.isFinal })
                    return current
                }

                // 1. A jam after the first sheets: the job fails with the pages scanned so far, the
                //    scanner shows userError/media-jam; cleared, the next job scans every sheet.
                let jammed = try await scanUntilFault(.jam)
                #expect(jammed.state == .failed)
                #expect((jammed.pages ?? []).count >= 1 && (jammed.pages ?? []).count < 60, "pages kept: \((jammed.pages ?? []).count)")
                #expect(jammed.error?.reasons?.contains(Reason.mediaJam) == true, "\(String(describing: jammed.error))")
                let jamState = try await waitState("scanner-1", .userError, "jam")
                #expect(jamState.reasons == [Reason.mediaJam])
                try await fault("scanner-1", .coverOpen)
                #expect(try await waitState("scanner-1", .userError, "jam and cover").reasons == [Reason.mediaJam, Reason.coverOpen])
                try await fault("scanner-1", .clear)
                _ = try await waitState("scanner-1", .online, "cleared")

                // 2. Unplugged mid-job: the job fails with noDevice; plugged back, scanning resumes.
                let pulled = try await scanUntilFault(.unplug)
                #expect(pulled.state == .failed)
                #expect(pulled.error?.reasons?.contains(Reason.deviceAbsent) == true, "\(String(describing: pulled.error))")
                _ = try await waitState("scanner-1", .noDevice, "unplugged")
                try await fault("scanner-1", .replug)
                _ = try await waitState("scanner-1", .online, "replugged")
                let after: Job = try await client.call("POST", "/v1/scanners/scanner-1/jobs", json: ScanJobRequest(source: .adf, mode: .gray, resolution: 75, format: "jpeg", maxPages: 3))
                var done = after
                done = try await poll("the job at " + "/v1/scan-jobs/\(after.id)", { () async throws -> Job in try await client.call("GET", "/v1/scan-jobs/\(after.id)") }, until: { $0.state.isFinal })
                #expect(done.state == .completed && done.pages?.count == 3)

                // 3. The ticket printer out of paper: a print is refused with the reason (no 5xx),
                //    a kiosk ticket is still issued with the print error on it; paper in, it prints.
                try await fault("ticket-printer", .paperOut)
                _ = try await waitState("ticket-printer", .userError, "paper out")
                let refused = try await client.send("POST", "/v1/printers/ticket-printer/jobs", body: Data([0x1B, 0x40, 0x41, 0x0A]), contentType: "application/vnd.escpos")
                #expect((400..<500).contains(refused.status) || refused.status == 503, "\(refused.status)")
                #expect(String(decoding: refused.body, as: UTF8.self).contains(Reason.mediaEmpty))
                let ticket: Ticket = try await client.call("POST", "/v1/tickets", json: IssueRequest(service: "A", print: true))
                let kioskJob = try #require(ticket.printJob, "the kiosk ticket's print job is recorded")
                var failedPrint: Job = try await client.call("GET", "/v1/print-jobs/\(kioskJob)")
                failedPrint = try await poll("the job at " + "/v1/print-jobs/\(kioskJob)", { () async throws -> Job in try await client.call("GET", "/v1/print-jobs/\(kioskJob)") }, until: { $0.state.isFinal })
                #expect(failedPrint.state == .failed && failedPrint.error?.reasons?.contains(Reason.mediaEmpty) == true, "\(failedPrint)")
                try await fault("ticket-printer", .clear)
                _ = try await waitState("ticket-printer", .online, "paper in")
                // The ticket the citizen did not get is printed again from the stored job.
                var reprint: Job = try await client.call("POST", "/v1/print-jobs/\(kioskJob)/reprint")
                reprint = try await poll("the job at " + "/v1/print-jobs/\(reprint.id)", { () async throws -> Job in try await client.call("GET", "/v1/print-jobs/\(reprint.id)") }, until: { $0.state.isFinal })
                #expect(reprint.state == .completed && reprint.reprintOf == kioskJob)
                let printed = try await client.send("POST", "/v1/printers/ticket-printer/jobs", body: Data([0x1B, 0x40, 0x41, 0x0A]), contentType: "application/vnd.escpos")
                #expect(printed.status == 201 || printed.status == 200 || printed.status == 202, "\(printed.status)")

                // 4. The serial line hung up while the display is being written: keypad and display
                //    go noDevice; a new line, and they come back without a restart.
                let writer = Task {
                    for i in 0..<50 {
                        _ = try? await client.send("PUT", "/v1/displays/display-1/content", body: try JSONEncoder().encode(DisplayContent(lines: ["A0\(i)"])), contentType: "application/json")
                    }
                }
                try await Task.sleep(for: .milliseconds(30))
                await peer.hangUp()
                _ = try await waitState("keypad-1", .noDevice, "line hung up")
                _ = try await waitState("display-1", .noDevice, "line hung up")
                await writer.value
                try peer.plug()
                _ = try await waitState("keypad-1", .online, "line back")
                _ = try await waitState("display-1", .online, "line back")

                // 5. Garbage on the bus during a rating: the rating completes, the noise is counted.
                let rating: Job = try await client.call("POST", "/v1/keypads/keypad-1/ratings", json: RatingJobRequest(ticket: ticket.number, timeoutSeconds: 10))
                garbage.withLock { $0 = 40 }
                try await eventually("simulator.isEvaluating(address: 1)") { simulator.isEvaluating(address: 1) }
                #expect(simulator.pressRating(address: 1, key: 1))
                var rated = rating
                rated = try await poll("the job at " + "/v1/rating-jobs/\(rating.id)", { () async throws -> Job in try await client.call("GET", "/v1/rating-jobs/\(rating.id)") }, until: { $0.state.isFinal })
                #expect(rated.state == .completed && rated.rating?.level == .verySatisfied)
                let shown: DisplayContent = try await client.call("PUT", "/v1/displays/display-1/content", json: DisplayContent(lines: ["A099 请到1号窗口"]))
                #expect(shown.lines == ["A099 请到1号窗口"])
                #expect(simulator.shown(address: 2)?.lines == ["A099 请到1号窗口"])

                // The daemon is up and healthy; the stream saw every event once, in order,
                // the same as the event log replays them.
                let health = try await client.send("GET", "/v1/health")
                #expect(health.status == 200)
                let end: InfoResponse = try await client.call("GET", "/v1/info")
                for _ in 0..<500 where (live.withLock { $0.last?.seq ?? 0 }) < end.lastEventSeq { try await Task.sleep(for: .milliseconds(10)) }
                let seen = live.withLock { $0 }.filter { $0.seq <= end.lastEventSeq }
                #expect(seen.map(\.seq) == Array((start.lastEventSeq + 1)...end.lastEventSeq), "no gap, no repeat")
                var replayed: [Seen] = []
                for try await m in client.events("/v1/events?since=\(start.lastEventSeq)") {
                    if let s = Self.parse(m) { replayed.append(s) }
                    if (replayed.last?.seq ?? 0) >= end.lastEventSeq { break }
                }
                #expect(replayed.map(\.seq) == seen.map(\.seq) && replayed.map(\.type) == seen.map(\.type), "the live stream is the log")

                // Each device's states, as the stream told them, in the order they happened.
                func states(_ device: String) -> [String] {
                    seen.filter { $0.device == device && $0.type == EventType.deviceStatus }.compactMap(\.state)
                }
                #expect(isSubsequence(["userError", "online", "noDevice", "online"], of: states("scanner-1")), "\(states("scanner-1"))")
                #expect(isSubsequence(["userError", "online"], of: states("ticket-printer")), "\(states("ticket-printer"))")
                #expect(isSubsequence(["noDevice", "online"], of: states("keypad-1")), "\(states("keypad-1"))")
                #expect(isSubsequence(["noDevice", "online"], of: states("display-1")), "\(states("display-1"))")
                #expect(seen.contains { $0.type == EventType.scanFinished })
                #expect(seen.contains { $0.type == EventType.keypadRating || $0.type == EventType.ratingJob })
                let keypad: DeviceDetail = try await client.call("GET", "/v1/devices/keypad-1")
                #expect((keypad.counters[.communicationErrors] ?? 0) > 0, "the noise is counted: \(keypad.counters)")
            }
        }
    }
}

func isSubsequence(_ wanted: [String], of list: [String]) -> Bool {
    var i = 0
    for item in list where i < wanted.count && item == wanted[i] { i += 1 }
    return i == wanted.count
}
