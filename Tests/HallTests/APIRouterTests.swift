import DeviceKit
import Foundation
import Jobs
import Hall
import HallAPIModels
import SQLiteStore
import Hummingbird
import HummingbirdTesting
import Simulators
import Synchronization
import Testing

@testable import HallAPI

/// The API through the router, with a crafted peer identity per request.
@Suite("API through the router", .timeLimit(.minutes(3)))
struct APIRouterTests {
    static let technician = PeerIdentity(pid: 10, uid: 1001, groups: [5001])
    static let clerk = PeerIdentity(pid: 11, uid: 1002, groups: [5002, 100])
    static let kiosk = PeerIdentity(pid: 12, uid: 1003, groups: [5003])
    static let stranger = PeerIdentity(pid: 13, uid: 1004, groups: [100])
    static let manager = PeerIdentity(pid: 14, uid: 1005, groups: [5004])

    final class Harness: Sendable {
        final class PeerBox: Sendable {
            let value = Mutex<PeerIdentity?>(APIRouterTests.technician)
        }
        let peer = PeerBox()
        let database: HallDatabase
        let events: EventLog
        let registry: DeviceRegistry
        let jobs: JobBoard
        let printer: SimulatedPrinter
        let keypad: SimulatedKeypad
        let services: APIServices
        /// The job board's spool, removed with the harness.
        let spoolDirectory: String

        init() throws {
            database = try HallDatabase.inMemory()
            events = EventLog(store: database)
            printer = SimulatedPrinter(id: DeviceID("ticket-printer")!, name: "p")
            keypad = SimulatedKeypad(id: DeviceID("keypad-1")!, name: "k")
            let devices: [any Device] = [
                SimulatedScanner(id: DeviceID("scanner-1")!, name: "s", sheets: 2), printer, keypad,
                SimulatedDisplay(id: DeviceID("display-1")!, name: "d"),
            ]
            registry = DeviceRegistry(devices: devices, events: events, counters: database, logger: testLogger)
            spoolDirectory = try temporaryDirectory()
            let spool = ScanSpool(directory: spoolDirectory)
            jobs = JobBoard(registry: registry, events: events, spool: spool, logger: testLogger)
            let peer = self.peer
            services = APIServices(
                registry: registry, events: events, jobs: jobs,
                roles: RoleMap(technicianGroups: [5001], clerkGroups: [5002], kioskGroups: [5003], managerGroups: [5004], daemonUID: 4242),
                info: .init(version: "test", socket: "/test.sock", stateDir: "/test"), subscriberBuffer: 64,
                identify: { _ in peer.value.withLock { $0 } })
        }

        deinit { try? FileManager.default.removeItem(atPath: spoolDirectory) }

        func `as`(_ p: PeerIdentity?) { peer.value.withLock { $0 = p } }

        /// Runs the registry and the job board while `body` sends requests through the router.
        func test(_ body: @Sendable @escaping (any TestClientProtocol) async throws -> Void) async throws {
            let app = Application(router: buildRouter(services), logger: testLogger)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { await self.registry.run() }
                group.addTask { await self.jobs.run() }
                await registry.waitUntilAllAttempted()
                try await app.test(.router) { client in try await body(client) }
                group.cancelAll()
            }
        }
    }


    @Test("roles: what kiosks, clerks, strangers and technicians may do; denials are audited")
    func roles() async throws {
        let h = try Harness()
        try await h.test { client in
            h.as(APIRouterTests.kiosk)
            try await client.execute(uri: "/v1/info", method: .get) { r in
                #expect(r.status == .ok)
                let info = try JSONDecoder().decode(InfoResponse.self, from: Data(buffer: r.body))
                #expect(info.role == .kiosk)
            }
            try await client.execute(uri: "/v1/devices", method: .get) { #expect($0.status == .ok) }
            for (uri, body) in [
                ("/v1/devices/ticket-printer/faults", #"{"fault":"jam"}"#), ("/v1/devices/scanner-1/reset", ""),
                ("/v1/devices/scanner-1/health", #"{"level":"external"}"#), ("/v1/keypads/keypad-1/ratings", "{}"),
                ("/v1/keypads/keypad-1/press", #"{"level":"5"}"#),
            ] {
                try await client.execute(uri: uri, method: .post, body: json(body)) { r in
                    #expect(r.status == .forbidden, "kiosk: POST \(uri)")
                    let e = try error(r)
                    #expect(e.code == .notAuthorized)
                }
            }
            try await client.execute(uri: "/v1/devices/scanner-1/health", method: .post, body: json(#"{"level":"internal"}"#)) { #expect($0.status == .ok) }
            try await client.execute(uri: "/v1/printers/ticket-printer/jobs", method: .post, headers: [.contentType: "text/plain; charset=utf-8"], body: json("取号 A001\n")) {
                #expect($0.status == .accepted)
            }

            h.as(APIRouterTests.clerk)
            try await client.execute(uri: "/v1/displays/display-1/content", method: .put, body: json(#"{"lines":["A012 请到3号窗口"],"effect":"flash"}"#)) { #expect($0.status == .ok) }
            try await client.execute(uri: "/v1/devices/keypad-1/faults", method: .post, body: json(#"{"fault":"timeout"}"#)) { #expect($0.status == .forbidden) }
            // The roster is the manager's: a clerk may not change it.
            try await client.execute(uri: "/v1/clerks/S001", method: .put, body: json(#"{"name":"李娜"}"#)) { r in
                #expect(r.status == .forbidden)
                let e = try error(r)
                #expect(e.message.contains("manager"))
            }
            h.as(APIRouterTests.manager)
            try await client.execute(uri: "/v1/info", method: .get) { r in
                let info = try JSONDecoder().decode(InfoResponse.self, from: Data(buffer: r.body))
                #expect(info.role == .manager)
            }
            // Past the role check: this router has no hall.
            try await client.execute(uri: "/v1/clerks/S001", method: .put, body: json(#"{"name":"李娜"}"#)) { #expect($0.status != .forbidden) }
            try await client.execute(uri: "/v1/devices/keypad-1/faults", method: .post, body: json(#"{"fault":"timeout"}"#)) { #expect($0.status == .forbidden) }

            h.as(APIRouterTests.stranger)
            try await client.execute(uri: "/v1/health", method: .get) { #expect($0.status == .ok) }
            try await client.execute(uri: "/v1/devices", method: .get) { r in
                #expect(r.status == .forbidden)
                let e = try error(r)
                #expect(e.message.contains("no role"))
            }
            h.as(nil)
            try await client.execute(uri: "/v1/events", method: .get) { #expect($0.status == .forbidden) }

            h.as(PeerIdentity(pid: 1, uid: 0, groups: [0]))
            try await client.execute(uri: "/v1/info", method: .get) { r in
                let info = try JSONDecoder().decode(InfoResponse.self, from: Data(buffer: r.body))
                #expect(info.role == .technician)
            }
            h.as(PeerIdentity(pid: 1, uid: 4242, groups: [4242]))
            try await client.execute(uri: "/v1/devices/display-1/faults", method: .post, body: json(#"{"fault":"garbled"}"#)) { r in
                #expect(r.status == .ok, "the daemon's own user is a technician")
                let detail = try JSONDecoder().decode(DeviceDetail.self, from: Data(buffer: r.body))
                #expect(detail.reasons == ["communication-garbled-error"])
            }
        }
        let denied = try await h.events.events(after: 0, types: [EventType.accessDenied])
        #expect(denied.count == 10, "8, and the clerk and the manager refused what is not theirs")
        #expect(denied.first?.data["uid"] == .number(1003))
        #expect(denied.first?.data["path"]?.stringValue == "/v1/devices/ticket-printer/faults")
    }

    @Test("bad input gets a 4xx naming the field, never a 5xx")
    func badInput() async throws {
        let h = try Harness()
        try await h.test { client in
            let cases: [(HTTPRequest.Method, String, String, HTTPResponse.Status, String?)] = [
                (.post, "/v1/devices/scanner-1/health", #"{"level":"#, .badRequest, nil),
                (.post, "/v1/devices/scanner-1/health", #"{"level":3}"#, .badRequest, "level"),
                (.post, "/v1/devices/scanner-1/health", #"{"level":"deep"}"#, .badRequest, "level"),
                (.post, "/v1/devices/scanner-1/health", #"[1,2]"#, .badRequest, nil),
                (.post, "/v1/devices/scanner-1/faults", "", .badRequest, nil),
                (.post, "/v1/devices/scanner-1/faults", #"{"fault":"explode"}"#, .badRequest, "fault"),
                (.post, "/v1/devices/scanner-1/faults", #"{"fault":"jam","when":"now"}"#, .badRequest, "when"),
                (.post, "/v1/devices/keypad-1/faults", #"{"fault":"paperOut"}"#, .conflict, nil),
                (.post, "/v1/keypads/keypad-1/ratings", #"{"timeoutSeconds":0}"#, .badRequest, "timeoutSeconds"),
                (.post, "/v1/keypads/keypad-1/ratings", #"{"timeoutSeconds":"30"}"#, .badRequest, "timeoutSeconds"),
                (.post, "/v1/keypads/keypad-1/ratings", #"{"ticket":""}"#, .badRequest, "ticket"),
                (.post, "/v1/keypads/keypad-1/press", #"{"level":"great"}"#, .badRequest, "level"),
                (.post, "/v1/scanners/scanner-1/jobs", #"{"maxPages":0}"#, .badRequest, "maxPages"),
                (.post, "/v1/scanners/scanner-1/jobs", #"{"resolution":1200}"#, .badRequest, "resolution"),
                (.post, "/v1/scanners/scanner-1/jobs", #"{"format":"tiff"}"#, .badRequest, "format"),
                (.post, "/v1/scanners/scanner-1/jobs", #"{"source":"camera"}"#, .badRequest, "source"),
                (.post, "/v1/scanners/keypad-1/jobs", "{}", .conflict, nil),
                (.put, "/v1/displays/display-1/content", #"{"lines":[]}"#, .badRequest, "lines"),
                (.put, "/v1/displays/display-1/content", #"{"lines":["ok"],"seconds":-1}"#, .badRequest, "seconds"),
                (.put, "/v1/displays/display-1/content", #"{"lines":["A012 请到13号窗口"]}"#, .badRequest, "lines[0]"),
                (.put, "/v1/displays/display-1/content", #"{"lines":"A012"}"#, .badRequest, "lines"),
                (.get, "/v1/devices/nope", "", .notFound, nil),
                (.get, "/v1/devices/NOT..valid", "", .notFound, nil),
                (.get, "/v1/devices?kind=camera", "", .badRequest, "kind"),
                (.get, "/v1/scan-jobs/../../etc/passwd", "", .notFound, nil),
                (.get, "/v1/scan-jobs/00000000-0000-0000-0000-000000000000", "", .notFound, nil),
                (.delete, "/v1/print-jobs/nope", "", .notFound, nil),
                (.get, "/v1/events?since=-1", "", .badRequest, "since"),
                (.get, "/v1/nowhere", "", .notFound, nil),
            ]
            for (method, uri, body, status, field) in cases {
                try await client.execute(uri: uri, method: method, body: json(body)) { r in
                    #expect(r.status == status, "\(method) \(uri) \(body)")
                    let e = try error(r)
                    #expect(e.field == field, "\(method) \(uri) \(body): \(e.message)")
                    #expect(!e.message.isEmpty)
                }
            }
            try await client.execute(uri: "/v1/printers/ticket-printer/jobs", method: .post, headers: [.contentType: "image/gif"], body: json("GIF89a")) { r in
                #expect(r.status == .unsupportedMediaType)
                let e = try error(r)
                #expect(e.field == "Content-Type")
            }
            try await client.execute(uri: "/v1/printers/ticket-printer/jobs", method: .post, headers: [.contentType: "text/plain; charset=latin1"], body: json("x")) {
                #expect($0.status == .unsupportedMediaType)
            }
            // The daemon is still answering.
            try await client.execute(uri: "/v1/health", method: .get) { #expect($0.status == .ok) }
        }
    }

    @Test("a rating job completes with the pressed level; a job on a faulted device fails with its reasons")
    func jobs() async throws {
        let h = try Harness()
        try await h.test { client in
            var location = ""
            try await client.execute(uri: "/v1/keypads/keypad-1/ratings", method: .post, body: json(#"{"ticket":"A012","timeoutSeconds":30}"#)) { r in
                #expect(r.status == .accepted)
                location = r.headers[.location] ?? ""
            }
            #expect(location.hasPrefix("/v1/rating-jobs/"))
            try await eventually("the keypad waiting for a key") { await h.keypad.isWaiting }
            try await client.execute(uri: "/v1/keypads/keypad-1/press", method: .post, body: json(#"{"level":"不满意"}"#)) { r in
                let press = try JSONDecoder().decode(PressResponse.self, from: Data(buffer: r.body))
                #expect(press == PressResponse(level: .dissatisfied, rated: true))
            }
            var job: Job?
            repeat {
                try await client.execute(uri: location, method: .get) { job = try JSONDecoder().decode(Job.self, from: Data(buffer: $0.body)) }
            } while job?.state.isFinal == false
            #expect(job?.state == .completed)
            #expect(job?.rating == RatingResult(.dissatisfied))

            try await client.execute(uri: "/v1/devices/ticket-printer/faults", method: .post, body: json(#"{"fault":"paperOut"}"#)) { #expect($0.status == .ok) }
            try await client.execute(uri: "/v1/printers/ticket-printer/jobs", method: .post, headers: [.contentType: "application/vnd.escpos"], body: json("\u{1B}@A012")) { r in
                #expect(r.status == .serviceUnavailable)
                let e = try error(r)
                #expect(e.code == .userError)
                #expect(e.reasons == ["media-empty-error"])
            }
        }
        let ratings = try await h.events.events(after: 0, types: [EventType.keypadRating])
        #expect(ratings.map { $0.data["level"]?.stringValue } == ["dissatisfied"])
        #expect(ratings.first?.data["ticket"]?.stringValue == "A012")
    }
}

private func json(_ s: String) -> ByteBuffer { ByteBuffer(string: s) }

private func error(_ r: TestResponse) throws -> ErrorResponse.Body {
    try JSONDecoder().decode(ErrorResponse.self, from: Data(buffer: r.body)).error
}
