import ChildProcess
import DeviceKit
import Foundation
import HallAPIModels
import HallClient
import PostgresStore
import SQLiteStore
import Synchronization
import Testing

extension PeerTests {
    /// One hall on several PCs: halld processes sharing a PostgreSQL store (the run's
    /// private server, or one of the test's own that it stops and starts again).
    @Suite("a hall shared by several hallds (PostgreSQL)", .timeLimit(.minutes(4)))
    struct SharedHallTests {
        @Test("kiosk PC and windows PC: issued on one, called on the other, both displays show it within a second, the rating stored once")
        func twoPCs() async throws {
            let hall = try await SharedHall.start(url: try SharedHall.testServer())
            defer { hall.cleanUp() }
            try await hall.withBoth { [hall] kiosk, windows in
                let ticket: Ticket = try await kiosk.client.call("POST", "/v1/tickets", json: IssueRequest(service: "A"))
                #expect(ticket.number == "A001")
                let _: HallWindow = try await windows.client.call("PUT", "/v1/windows/3/status", json: WindowStatusRequest(state: .open))
                // The ticket reaches the windows PC through the store's notifications.
                _ = try await poll("A001 in the windows PC's queue", within: .seconds(1)) {
                    try await windows.client.call("GET", "/v1/tickets?state=waiting", as: [Ticket].self)
                } until: { $0.contains { $0.id == ticket.id } }
                let called: Ticket = try await windows.client.call("POST", "/v1/windows/3/call-next")
                #expect(called.id == ticket.id && called.window == 3)
                _ = try await poll("window 3's display on the windows PC", within: .seconds(1)) {
                    try await windows.client.call("GET", "/v1/displays/display-3/content", as: DisplayContent.self)
                } until: { $0.lines.first == "A001 请到3号窗口" }
                _ = try await poll("the main display on the kiosk PC", within: .seconds(1)) {
                    try await kiosk.client.call("GET", "/v1/displays/display-main/content", as: DisplayContent.self)
                } until: { $0.lines.first == "A001→3号" }
                // The hall's speaker, wired to the kiosk PC, says the call made on the windows PC.
                _ = try await poll("the call said on the kiosk PC's speaker", within: .seconds(2)) {
                    try await kiosk.client.call("GET", "/v1/speakers/speaker-1/announcements", as: AnnouncementQueue.self)
                } until: { q in
                    ([q.playing].compactMap { $0 } + q.queued + q.recent).contains { $0.ticket == ticket.id && $0.kind == .call && $0.text == "请A001号到3号窗口办理" }
                }
                // The kiosk PC shows the hall's windows (the union) and who is served where,
                // and leaves window 3 to the PC at it.
                let summary: HallSummary = try await kiosk.client.call("GET", "/v1/hall")
                #expect(summary.windows.map(\.number) == [2, 3])
                #expect(summary.windows.last?.current?.number == "A001")
                let elsewhere = try await kiosk.client.send("POST", "/v1/windows/3/call-next")
                #expect(elsewhere.status == 409 && elsewhere.text.contains("another halld"), "\(elsewhere.text)")

                // Completed at window 3, rated on its keypad: stored once; a second rating from the kiosk PC is refused.
                let _: Ticket = try await windows.client.call("POST", "/v1/windows/3/complete")
                _ = try await poll("the rating pressed on keypad-3", within: .seconds(5)) {
                    try await windows.client.call("POST", "/v1/keypads/keypad-3/press", json: PressRequest(level: "satisfied"), as: PressResponse.self)
                } until: { $0.rated }
                _ = try await poll("the rating known to the kiosk PC", within: .seconds(2)) {
                    try await kiosk.client.call("GET", "/v1/ratings", as: [Rating].self)
                } until: { $0.count == 1 }
                let again = try await kiosk.client.send("POST", "/v1/tickets/\(ticket.id)/rating", body: try JSONEncoder().encode(RatingRequest(level: "verySatisfied", channel: "app")))
                #expect(again.status == 409, "\(again.text)")
                let ratings: [Rating] = try await windows.client.call("GET", "/v1/ratings")
                #expect(ratings.map(\.ticket) == [ticket.id] && ratings.first?.level == .satisfied)

                // The district: every hall of the database, this one among them, through hallctl.
                let r = try await runCommandSplit([builtExecutable("hallctl"), "--socket", kiosk.dir + "/halld.sock", "stats", "--hall", "all", "--json"])
                #expect(r.status == 0, "\(r.err)")
                let district = try JSONDecoder().decode(DistrictStats.self, from: Data(r.out.utf8))
                let ours = district.halls[hall.id]?.hall
                #expect(ours?.issued == 1 && ours?.served == 1 && ours?.ratings == ["satisfied": 1], "\(String(describing: ours))")
                #expect(district.district.hall.issued >= 1 && district.district.hall.issued == district.halls.values.map(\.hall.issued).reduce(0, +))
                let csv = try await kiosk.client.send("GET", "/v1/stats?hall=all&format=csv")
                #expect(csv.text.hasPrefix("hall,date,scope,key,") && csv.text.contains("\n\(hall.id),"), "\(csv.text.prefix(400))")
                let wrong = try await kiosk.client.send("GET", "/v1/stats?hall=other")
                #expect(wrong.status == 400 && wrong.text.contains("\"field\":\"hall\""), "\(wrong.text)")
                // Each halld's stream carries every hall event once, in the hall's order.
                try await hall.expectStreamsCarryTheHallsEvents(types: ["ticket.issued", "ticket.called", "ticket.completed", "keypad.rating"])
            }
        }

        @Test("clients of both hallds issue at once: every number unique and gapless per service")
        func concurrentIssues() async throws {
            let hall = try await SharedHall.start(url: try SharedHall.testServer())
            defer { hall.cleanUp() }
            try await hall.withBoth { kiosk, windows in
                let tickets = try await withThrowingTaskGroup(of: [Ticket].self) { group in
                    for client in 0..<6 {
                        let target = client % 2 == 0 ? kiosk.client : windows.client
                        group.addTask {
                            var mine: [Ticket] = []
                            for i in 0..<15 {
                                mine.append(try await target.call("POST", "/v1/tickets", json: IssueRequest(service: (client + i) % 3 == 0 ? "B" : "A")))
                            }
                            return mine
                        }
                    }
                    return try await group.reduce(into: []) { $0 += $1 }
                }
                #expect(tickets.count == 90)
                for service in ["A", "B"] {
                    let numbers = tickets.filter { $0.service == service }.map(\.sequence).sorted()
                    #expect(numbers == Array(1...numbers.count), "service \(service): \(numbers)")
                }
            }
        }

        @Test("PostgreSQL stopped and started under load, one halld SIGKILLed and restarted: every acknowledged ticket kept, no number twice, every hall event once in each stream")
        func outageAndCrash() async throws {
            let server = try await PrivateServer.start()
            let hall: SharedHall
            do {
                hall = try await SharedHall.start(url: server.url)
            } catch {
                await server.stop()
                throw error
            }
            defer { hall.cleanUp() }
            do {
                try await outageAndCrash(hall, server)
            } catch {
                await server.stop()
                throw error
            }
            // Stopped before the test ends: a server left running outlives the test process.
            await server.stop()
        }

        func outageAndCrash(_ hall: SharedHall, _ server: PrivateServer) async throws {
            try await hall.withBoth { [hall] kiosk, windows in
                let stop = Flag()
                let outcome = Outcome()
                let load = Task {
                    try await withThrowingTaskGroup(of: Void.self) { group in
                        for client in 0..<4 {
                            group.addTask {
                                while !stop.isSet {
                                    let peer = client % 2 == 0 ? kiosk : windows
                                    guard let reply = try? await peer.client.send("POST", "/v1/tickets", body: try JSONEncoder().encode(IssueRequest(service: "A"))) else {
                                        try await Task.sleep(for: .milliseconds(20))
                                        continue
                                    }
                                    await outcome.record(reply)
                                    if reply.status != 201 { try await Task.sleep(for: .milliseconds(20)) }
                                }
                            }
                        }
                        try await group.waitForAll()
                    }
                }
                try await eventually("tickets issued before the outage", within: .seconds(10)) { await outcome.acknowledged.count >= 10 }
                try await server.halt()
                try await eventually("503 hallStoreUnavailable while PostgreSQL is down", within: .seconds(15), seen: { await outcome.lastFailure }) {
                    await outcome.unavailable > 0
                }
                // Devices keep working meanwhile, and the health says what is wrong.
                let devices = try await kiosk.client.send("GET", "/v1/devices")
                #expect(devices.status == 200)
                // The health is the follower's view: it names the store once its connection's
                // beat has failed (a second or three), while operations may see it first.
                let health = try await poll("/v1/health naming the lost store", within: .seconds(10)) {
                    try await kiosk.client.send("GET", "/v1/health")
                } until: { $0.text.contains("hall: the hall's store postgresql://") }
                #expect(health.status == 200, "\(health.text)")
                let shown = try await kiosk.client.send("PUT", "/v1/displays/display-main/content", body: Data(#"{"lines": ["暂停取号"]}"#.utf8))
                #expect(shown.status == 200 || shown.status == 204, "\(shown.text)")
                try await server.resume()
                let before = await outcome.acknowledged.count
                try await eventually("tickets issued again after PostgreSQL is back", within: .seconds(20), seen: { await outcome.lastFailure }) {
                    await outcome.acknowledged.count >= before + 10
                }
                // The windows PC dies under load and comes back.
                await windows.kill()
                try await Task.sleep(for: .milliseconds(300))
                try await windows.restart()
                try await eventually("the restarted halld back in the hall", within: .seconds(20)) {
                    (try? await windows.client.send("GET", "/v1/hall"))?.status == 200
                }
                let afterRestart = await outcome.acknowledged.count
                try await eventually("tickets issued after the restart", within: .seconds(20)) { await outcome.acknowledged.count >= afterRestart + 10 }
                stop.set()
                try await load.value

                let acknowledged = await outcome.acknowledged
                // What the hall's store holds is the truth both hallds must come to.
                let store = try PostgresHallStore(url: server.url, hall: hall.id, logger: testLogger)
                defer { store.close() }
                let stored = try await store.tickets(day: acknowledged.first?.day ?? "")
                let storedIDs = Set(stored.map(\.id))
                let missing = acknowledged.filter { !storedIDs.contains($0.id) }
                #expect(missing.isEmpty, "acknowledged tickets missing: \(missing.map(\.number))")
                #expect(Set(stored.map(\.number)).count == stored.count, "a number was issued twice")
                #expect(Set(acknowledged.map(\.number)).count == acknowledged.count, "a number was acknowledged twice")
                // Each halld knows every ticket: from events, its load after reconnecting, and
                // (a ticket stored by a halld killed before announcing it) its resync.
                for (name, peer) in [("kiosk", kiosk), ("windows", windows)] {
                    let theirs = Mutex<[String]>([])
                    try await eventually(
                        "the \(name) PC's queue is the hall's", within: .seconds(5),
                        seen: { "it lacks \(storedIDs.subtracting(theirs.withLock { $0 }).count) of \(storedIDs.count), has \(theirs.withLock { $0 }.count)" }
                    ) {
                        let list: [Ticket] = try await peer.client.call("GET", "/v1/tickets")
                        theirs.withLock { $0 = list.map(\.id) }
                        return Set(list.map(\.id)) == storedIDs
                    }
                }
                try await hall.expectStreamsCarryTheHallsEvents(types: ["ticket.issued"])
            }
        }

        @Test("a halld with other services than the hall's refuses to start, naming the difference")
        func servicesDisagree() async throws {
            let url = try SharedHall.testServer()
            let hall = try await SharedHall.start(url: url)
            defer { hall.cleanUp() }
            try await hall.withBoth { _, _ in
                let dir = hall.dir + "/odd"
                try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
                let config = SharedHall.config(
                    dir: dir, url: url, hall: hall.id, devices: "", windows: "",
                    services: "[[hall.service]]\ncode = \"A\"\nname = \"社会保障\"\n[[hall.service]]\ncode = \"C\"\nname = \"不动产\"\n")
                try config.write(toFile: dir + "/halld.toml", atomically: true, encoding: .utf8)
                let r = try await runCommandSplit([builtExecutable("halld"), "--config", dir + "/halld.toml", "--log-level", "error"], within: .seconds(30))
                #expect(r.status != 0)
                #expect(r.err.contains("service C is configured here but not in the hall"), "\(r.err)")
                #expect(r.err.contains("the hall has service B, not configured here"), "\(r.err)")
            }
        }
    }
}

/// Two hallds of one hall on the same PostgreSQL server: a kiosk PC (ticket printer,
/// main display) and a windows PC (windows 2 and 3 with their displays and keypads).
final class SharedHall: Sendable {
    let dir: String
    let id: String
    let url: String
    let kiosk: HalldPeer
    let windows: HalldPeer

    private init(dir: String, id: String, url: String, kiosk: HalldPeer, windows: HalldPeer) {
        self.dir = dir
        self.id = id
        self.url = url
        self.kiosk = kiosk
        self.windows = windows
    }

    /// The run's PostgreSQL server (HALLD_TEST_POSTGRES).
    static func testServer() throws -> String {
        guard let url = ProcessInfo.processInfo.environment["HALLD_TEST_POSTGRES"], !url.isEmpty else {
            throw ProcessFailure("HALLD_TEST_POSTGRES is not set: make test starts a private PostgreSQL server")
        }
        return url
    }

    static let services = "[[hall.service]]\ncode = \"A\"\nname = \"社会保障\"\n[[hall.service]]\ncode = \"B\"\nname = \"医疗保险\"\n"

    static func config(dir: String, url: String, hall: String, devices: String, windows: String, services: String = services, kiosk: String = "", hallKeys: String = "") -> String {
        """
        [api]
        socket = "\(dir)/halld.sock"
        [storage]
        state_dir = "\(dir)/state"
        \(devices)
        [hall]
        name = "城关镇便民服务中心"
        store = "\(url)"
        id = "\(hall)"
        rating_timeout_seconds = 30
        store_resync_seconds = 1
        \(hallKeys)
        \(services)
        \(windows)
        \(kiosk)
        """
    }

    static func device(_ id: String, _ kind: String, _ extra: String = "") -> String {
        "[[device]]\nid = \"\(id)\"\nkind = \"\(kind)\"\ndriver = \"simulated\"\n\(extra)\n"
    }

    static func start(url: String) async throws -> SharedHall {
        let dir = try temporaryDirectory()
        let id = "hall-" + UUID().uuidString.prefix(8).lowercased()
        for name in ["kiosk", "windows"] { try FileManager.default.createDirectory(atPath: dir + "/" + name, withIntermediateDirectories: true) }
        let kioskConfig = config(
            dir: dir + "/kiosk", url: url, hall: id,
            devices: device("ticket-printer", "printer", "paper = \"ticket\"") + device("display-main", "display", "lines = 4\ncolumns = 32")
                + device("speaker-1", "speaker", "voice = \"espeak-ng\""), windows: "",
            kiosk: "[hall.kiosk]\nprinter = \"ticket-printer\"\nmain_display = \"display-main\"\n", hallKeys: "speaker = \"speaker-1\"")
        let windowsConfig = config(
            dir: dir + "/windows", url: url, hall: id,
            devices: device("display-2", "display") + device("keypad-2", "keypad") + device("display-3", "display") + device("keypad-3", "keypad"),
            windows: """
                [[hall.window]]
                number = 2
                display = "display-2"
                keypad = "keypad-2"
                services = ["B"]
                [[hall.window]]
                number = 3
                display = "display-3"
                keypad = "keypad-3"
                """)
        try kioskConfig.write(toFile: dir + "/kiosk/halld.toml", atomically: true, encoding: .utf8)
        try windowsConfig.write(toFile: dir + "/windows/halld.toml", atomically: true, encoding: .utf8)
        let kiosk = try await HalldPeer.start(dir: dir + "/kiosk")
        let windows: HalldPeer
        do {
            windows = try await HalldPeer.start(dir: dir + "/windows")
        } catch {
            await kiosk.stop()
            throw error
        }
        return SharedHall(dir: dir, id: id, url: url, kiosk: kiosk, windows: windows)
    }

    /// Runs `body` with both hallds in the hall, and stops them (SIGTERM) after it,
    /// whatever happens; their output is in the failure.
    func withBoth(_ body: @Sendable (HalldPeer, HalldPeer) async throws -> Void) async throws {
        do {
            try await kiosk.waitJoined()
            try await windows.waitJoined()
            try await body(kiosk, windows)
        } catch {
            let (k, w) = (kiosk.output, windows.output)
            await kiosk.stop()
            await windows.stop()
            throw ProcessFailure("\(error)\n--- kiosk halld:\n\(k.suffix(3000))\n--- windows halld:\n\(w.suffix(3000))")
        }
        let (k, w) = (await kiosk.stop(), await windows.stop())
        #expect(k == 0 && w == 0, "exit statuses after SIGTERM: kiosk \(String(describing: k)), windows \(String(describing: w))")
    }

    /// Each halld's local event log (what its stream serves) comes to hold the hall's
    /// events of `types` exactly as the shared store has them: each once, in the hall's
    /// order. Asked while both run (they may still be catching up), then once more.
    func expectStreamsCarryTheHallsEvents(types: Set<String>) async throws {
        let store = try PostgresHallStore(url: url, hall: id, logger: testLogger)
        defer { store.close() }
        let key = { (e: HallEvent) in "\(e.type) \(e.time) \(e.data["id"]?.stringValue ?? e.data["ticket"]?.stringValue ?? "")" }
        for peer in [kiosk, windows] {
            var (local, shared): ([String], [String]) = ([], [])
            let deadline = ContinuousClock.now + .seconds(15)
            repeat {
                shared = try await store.events(after: 0, limit: 100_000, types: types).map(key)
                let database = try HallDatabase.open(directory: peer.dir + "/state")
                // A keypad's own keypad.rating (a device event, the number it was asked about)
                // stays local; the hall's carries the channel.
                local = try await database.events(after: 0, limit: 100_000, types: types).filter { $0.type != EventType.keypadRating || $0.data["channel"] != nil }
                    .map(key)
                try database.close()
                if !shared.isEmpty && local == shared { break }
                try await Task.sleep(for: .milliseconds(200))
            } while ContinuousClock.now < deadline
            #expect(!shared.isEmpty)
            #expect(local == shared, "\(peer.dir): \(local.count) local events, \(shared.count) in the hall, not the same within 15 s; its log:\n\(peer.output.suffix(3000))")
        }
    }

    func cleanUp() { try? FileManager.default.removeItem(atPath: dir) }
}

/// One halld process of the test, with its folder, socket and client.
final class HalldPeer: Sendable {
    let dir: String
    let client: HallClient
    private let child: Mutex<Child?>

    private init(dir: String, child: Child) {
        self.dir = dir
        self.client = HallClient(socketPath: dir + "/halld.sock")
        self.child = Mutex(child)
    }

    static func start(dir: String) async throws -> HalldPeer {
        let peer = HalldPeer(dir: dir, child: try await launch(dir))
        try await peer.waitUp()
        return peer
    }

    private static func launch(_ dir: String) async throws -> Child {
        try await Child.start([builtExecutable("halld"), "--config", dir + "/halld.toml", "--log-level", "notice"])
    }

    var output: String { child.withLock { $0?.output } ?? "" }

    func waitUp() async throws {
        try await eventually("halld in \(dir) answers", within: .seconds(20), seen: { self.output.suffix(2000).description }) {
            (try? await self.client.send("GET", "/v1/health"))?.status == 200
        }
    }

    /// The hall routes answer: the halld joined its hall.
    func waitJoined() async throws {
        try await eventually("halld in \(dir) joined its hall", within: .seconds(20), seen: { self.output.suffix(2000).description }) {
            (try? await self.client.send("GET", "/v1/hall"))?.status == 200
        }
    }

    func kill() async { await child.withLock { $0 }?.stop(signal: SIGKILL) }

    func restart() async throws {
        let next = try await Self.launch(dir)
        child.withLock { $0 = next }
        try await waitUp()
    }

    @discardableResult
    func stop() async -> Int32? { await child.withLock { $0 }?.stop() }
}

/// A PostgreSQL server of the test's own, to stop and start again.
struct PrivateServer: Sendable {
    let dir: String
    let url: String

    static func start() async throws -> PrivateServer {
        let dir = try temporaryDirectory() + "/pg"
        let r = try await runCommandSplit(["/bin/bash", repositoryRoot + "/Tests/peers/postgres_peer.sh", "start", dir], within: .seconds(60))
        guard r.status == 0 else { throw ProcessFailure("postgres_peer.sh start: \(r.err)") }
        return PrivateServer(dir: dir, url: r.out.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    func halt() async throws { try await run("halt") }
    func resume() async throws { try await run("resume") }
    /// Stops the server and removes its folder (the script removes `dir`; the folder made
    /// for it goes here).
    func stop() async {
        try? await run("stop")
        try? FileManager.default.removeItem(atPath: (dir as NSString).deletingLastPathComponent)
    }

    private func run(_ command: String) async throws {
        let r = try await runCommandSplit(["/bin/bash", repositoryRoot + "/Tests/peers/postgres_peer.sh", command, dir], within: .seconds(60))
        guard r.status == 0 else { throw ProcessFailure("postgres_peer.sh \(command): \(r.err)") }
    }
}

/// What the clients of a load got: tickets acknowledged, 503s naming the store.
actor Outcome {
    var acknowledged: [Ticket] = []
    var unavailable = 0
    var lastFailure = ""

    func record(_ reply: HTTPReply) {
        if reply.status == 201, let t = try? HallClient.decode(reply, as: Ticket.self) {
            acknowledged.append(t)
            return
        }
        lastFailure = "\(reply.status) \(reply.text.prefix(300))"
        if reply.status == 503 && reply.text.contains("hallStoreUnavailable") { unavailable += 1 }
    }
}

final class Flag: Sendable {
    private let value = Atomic<Bool>(false)
    var isSet: Bool { value.load(ordering: .acquiring) }
    func set() { value.store(true, ordering: .releasing) }
}
