import DeviceKit
import Foundation
import HallModel
@testable import Hall
import HallAPIModels
import HallClient
@testable import HallDaemon
import SQLiteStore
import Simulators
import Synchronization
import Testing

@Suite("queue order", .timeLimit(.minutes(3)))
struct QueueOrderTests {
    let t0 = Date(timeIntervalSince1970: 1_800_000_000)
    func c(_ id: String, _ p: TicketPriority, _ minutes: Double, slot: Double? = nil) -> QueueOrder.Candidate {
        QueueOrder.Candidate(id: id, priority: p, queuedAt: t0.addingTimeInterval(minutes * 60), slot: slot.map { t0.addingTimeInterval($0 * 60) })
    }

    @Test("green first, then checked-in appointments by slot, then arrival order")
    func order() {
        let waiting = [c("a1", .normal, 0), c("a2", .normal, 1), c("g1", .green, 5), c("p1", .normal, 6, slot: 3), c("p2", .normal, 7, slot: 2), c("g2", .green, 8)]
        let now = t0.addingTimeInterval(10 * 60)
        #expect(QueueOrder.ordered(waiting, now: now, agingBound: .seconds(30 * 60)).map(\.id) == ["g1", "g2", "p2", "p1", "a1", "a2"])
        #expect(QueueOrder.ahead(of: waiting[0], in: waiting, now: now, agingBound: .seconds(30 * 60)) == 4)
        #expect(QueueOrder.ahead(of: waiting[5], in: waiting, now: now, agingBound: .seconds(30 * 60)) == 1)
        // An appointment whose slot has not begun waits in arrival order.
        let early = [c("a1", .normal, 0), c("p1", .normal, 1, slot: 60)]
        #expect(QueueOrder.next(early, now: now, agingBound: .seconds(30 * 60))?.id == "a1")
    }

    @Test("an ordinary ticket older than the aging bound goes before an endless stream of green ones")
    func aging() {
        var waiting = [c("a1", .normal, 0)]
        for i in 1...50 { waiting.append(c("g\(i)", .green, Double(i))) }
        #expect(QueueOrder.next(waiting, now: t0.addingTimeInterval(29 * 60), agingBound: .seconds(30 * 60))?.id == "g1")
        #expect(QueueOrder.next(waiting, now: t0.addingTimeInterval(31 * 60), agingBound: .seconds(30 * 60))?.id == "a1")
    }
}

/// A clock the test moves.
final class HallClock: Sendable {
    private let value = Mutex(Date(timeIntervalSince1970: 1_800_000_000))  // Friday 2027-01-15 16:00 in Shanghai (08:00 UTC)
    var now: Date { value.withLock { $0 } }
    func advance(_ minutes: Double) { value.withLock { $0 = $0.addingTimeInterval(minutes * 60) } }
}

@Suite("the hall", .timeLimit(.minutes(3)))
struct HallDayTests {
    struct Bench {
        let dir: String
        let clock = HallClock()
        let keyClock = ManualClock()
        let store: FaultyStore
        let registry: DeviceRegistry
        let events = EventRecorder()
        let hall: Hall
        let keypad1: SimulatedKeypad
        let display1 = SimulatedDisplay(id: DeviceID("display-1")!, name: "1", lines: 2, columns: 16)
        let main = SimulatedDisplay(id: DeviceID("display-main")!, name: "main", lines: 4, columns: 32)

        init(
            _ kind: StoreKind, ratingRetryDelays: [Duration] = [.milliseconds(200), .seconds(1), .seconds(3)], configure: (inout HallSetup) -> Void = { _ in }
        ) async throws {
            dir = try temporaryDirectory()
            store = FaultyStore(try await kind.make(directory: dir))
            keypad1 = SimulatedKeypad(id: DeviceID("keypad-1")!, name: "k1", clock: keyClock)
            registry = DeviceRegistry(devices: [keypad1, display1, main], events: events, logger: testLogger)
            let setup = HallSetup(
                name: "城关镇便民服务中心", services: [HallService(code: "A", name: "社会保障"), HallService(code: "B", name: "医疗保险", dailyCap: 3)],
                windows: [
                    HallWindowConfig(number: 1, display: DeviceID("display-1"), keypad: DeviceID("keypad-1")),
                    HallWindowConfig(number: 2, services: ["B"]), HallWindowConfig(number: 3, services: ["A"]),
                ], mainDisplay: DeviceID("display-main"), agingBound: .seconds(30 * 60), recallMax: 2, recallMinInterval: .seconds(60),
                ratingTimeout: .seconds(30))
            var configured = setup
            configure(&configured)
            let clock = clock
            hall = Hall(
                setup: configured, store: store, registry: registry, events: events, logger: testLogger, now: { clock.now }, ratingRetryDelays: ratingRetryDelays)
        }

        /// Makes every rating write fail, as a full or failing disk would.
        func breakRatingWrites() async throws { store.failRatingWrites(true) }

        /// A001 served at window 1 and completed while rating inserts fail.
        func completeWithRatingWritesBroken() async throws -> Ticket {
            _ = try await hall.setStatus(window: 1, state: .open, away: nil)
            _ = try await hall.issue(service: "A")
            _ = try await hall.callNext(window: 1)
            try await breakRatingWrites()
            return try await hall.complete(window: 1)
        }

        func repairRatingWrites() async throws { store.failRatingWrites(false) }

        func run(_ body: @Sendable (Bench) async throws -> Void) async throws {
            defer { try? FileManager.default.removeItem(atPath: dir) }
            defer { StoreKind.close(store) }
            let task = Task { await registry.run() }
            defer { task.cancel() }
            await registry.waitUntilAllAttempted()
            try await hall.load()
            try await body(self)
        }
    }

    static func code(_ body: () async throws -> some Any) async -> CompletionCode? {
        do {
            _ = try await body()
            return nil
        } catch let e as HallError {
            return e.code
        } catch {
            return .hardwareError
        }
    }

    @Test("ticket ids are random version-4 UUIDs in lower case, none twice")
    func ticketIDs() {
        let ids = (0..<2000).map { _ in Hall.newTicketID() }
        #expect(Set(ids).count == ids.count)
        for id in ids.prefix(200) {
            let u = UUID(uuidString: id)
            #expect(u != nil && id == id.lowercased() && id.count == 36, "\(id)")
            let chars = Array(id)
            #expect(chars[14] == "4" && "89ab".contains(chars[19]), "version 4, RFC 4122 variant: \(id)")
        }
    }

    @Test("a new day starts a new queue: yesterday's waiting tickets stay until midnight, are gone after it, and numbers start again at 001", arguments: StoreKind.allCases)
    func dayTurns(store kind: StoreKind) async throws {
        try await Bench(kind).run { b in
            let h = b.hall
            let first = try await h.issue(service: "A")
            _ = try await h.issue(service: "A")
            #expect(first.number == "A001")
            let friday = try #require(await h.summary(ifChangedSince: nil))
            #expect(h.isCurrent(friday.revision), "a board's copy of the hall is current while nothing changes")
            b.clock.advance(7 * 60 + 59)  // Friday 23:59 in Shanghai
            #expect(h.isCurrent(friday.revision))
            let evening = await h.list(state: .waiting)
            #expect(evening.map(\.number).sorted() == ["A001", "A002"], "\(evening.map { "\($0.number) \($0.day)" }) at \(b.clock.now), Friday is \(first.day)")
            b.clock.advance(2)  // Saturday 00:01
            #expect(!h.isCurrent(friday.revision), "a new day: the board's copy is not current, before anyone asks the hall")
            let saturday = try #require(await h.summary(ifChangedSince: friday.revision), "a new day is a new summary")
            #expect(saturday.waiting["A"] == 0 && h.isCurrent(saturday.revision))
            #expect(await h.list(state: .waiting).isEmpty, "yesterday's tickets are not called today")
            #expect(await h.ticket(first.id) == nil)
            b.clock.advance(2 * 24 * 60 + 8 * 60 + 29)  // Monday 08:30
            let monday = try await h.issue(service: "A")
            #expect(monday.number == "A001" && monday.day != first.day, "\(monday.number) on \(monday.day), Friday's was \(first.day)")
            #expect(await h.list(state: .waiting).map(\.id) == [monday.id])
        }
    }

    @Test("a 不满意 rating on a Friday opens a follow-up due five working days later; it is not overdue on Thursday, is announced once on Saturday, and closes only with a result", arguments: StoreKind.allCases)
    func followUpAcrossAWeekend(store kind: StoreKind) async throws {
        try await Bench(kind).run { b in
            let h = b.hall
            _ = try await h.setStatus(window: 3, state: .open, away: nil)
            for _ in 0..<2 { _ = try await h.issue(service: "A") }
            let bad = try #require(try await h.callNext(window: 3))
            _ = try await h.complete(window: 3)
            try await h.rate(bad.id, level: .dissatisfied, channel: "app")
            let good = try #require(try await h.callNext(window: 3))
            _ = try await h.complete(window: 3)
            try await h.rate(good.id, level: .satisfied, channel: "app")
            // Friday 2027-01-15: Mon 18 … Fri 22 are the five working days; due at the end of Friday 22.
            var shanghai = Calendar(identifier: .gregorian)
            shanghai.timeZone = TimeZone(identifier: "Asia/Shanghai")!
            #expect(shanghai.component(.weekday, from: b.clock.now) == 6, "the bench's day is a Friday")
            let due = shanghai.date(from: DateComponents(year: 2027, month: 1, day: 23))!
            let opened = try await h.followUpList(state: "open")
            #expect(opened.count == 1 && opened.first?.ticket == bad.id && opened.first?.level == .dissatisfied, "\(opened)")
            let f = try #require(opened.first)
            #expect(f.deadline == due, "due \(f.deadline), wanted \(due)")
            #expect(b.events.all.contains { $0.type == "follow-up.opened" })

            b.clock.advance(6 * 24 * 60 + 2 * 60)  // Thursday 21, 10:00
            #expect(try await h.announceOverdueFollowUps().isEmpty)
            #expect(try await h.followUpList(state: "overdue").isEmpty)
            b.clock.advance(2 * 24 * 60)  // Saturday 23, 10:00
            #expect(try await h.announceOverdueFollowUps().map(\.id) == [f.id])
            #expect(try await h.announceOverdueFollowUps().isEmpty, "announced once")
            #expect(try await h.followUpList(state: "overdue").map(\.id) == [f.id])
            #expect(b.events.all.filter { $0.type == "follow-up.overdue" }.count == 1)

            let noResult = await Self.code { try await h.updateFollowUp(f.id, owner: nil, result: " ", close: true, closedBy: nil) }
            #expect(noResult == .invalidData)
            let owned = try await h.updateFollowUp(f.id, owner: "王主任", result: nil, close: false, closedBy: nil)
            #expect(owned.owner == "王主任" && owned.state == .open)
            let closed = try await h.updateFollowUp(f.id, owner: nil, result: "已与群众沟通并致歉, 窗口整改", close: true, closedBy: nil)
            #expect(closed.state == .closed && closed.closedBy == "王主任" && closed.closedOnTime == false)
            let (overdue, closedList) = (try await h.followUpList(state: "overdue"), try await h.followUpList(state: "closed"))
            #expect(overdue.isEmpty && closedList.count == 1)
            let again = await Self.code { try await h.updateFollowUp(f.id, owner: nil, result: "再次", close: true, closedBy: nil) }
            #expect(again == .conflict)
            let unknown = await Self.code { try await h.updateFollowUp("fu-none", owner: "x", result: nil, close: false, closedBy: nil) }
            #expect(unknown == .notFound)
        }
    }

    @Test("a month's figures per clerk and unit, computed by hand: two clerks over two days, swapping windows; calls, waits, services, no-shows, ratings, follow-ups", arguments: StoreKind.allCases)
    func monthByClerk(store kind: StoreKind) async throws {
        try await Bench(kind).run { b in
            let h = b.hall
            _ = try await h.putClerk(Clerk(staffId: "S001", name: "李娜", unit: "社保所"))
            _ = try await h.putClerk(Clerk(staffId: "S002", name: "王强", unit: "医保所"))
            for n in [2, 3] { _ = try await h.setStatus(window: n, state: .open, away: nil) }
            // Friday 15th: 李娜 at window 3 (A), 王强 at window 2 (B).
            _ = try await h.signIn(window: 3, staffId: "S001")
            _ = try await h.signIn(window: 2, staffId: "S002")
            let a1 = try await h.issue(service: "A"), b1 = try await h.issue(service: "B")
            b.clock.advance(10)
            _ = try await h.callNext(window: 3)  // waited 600 s
            b.clock.advance(5)
            _ = try await h.complete(window: 3)  // served 300 s
            try await h.rate(a1.id, level: .satisfied, channel: "app")
            _ = try await h.callNext(window: 2)  // waited 900 s
            b.clock.advance(10)
            _ = try await h.complete(window: 2)  // served 600 s
            try await h.rate(b1.id, level: .veryDissatisfied, channel: "app")
            // Monday 18th, 08:00: they swap.
            b.clock.advance(3 * 24 * 60 - 25)
            for n in [2, 3] { _ = try await h.signOut(window: n) }
            _ = try await h.signIn(window: 2, staffId: "S001")
            _ = try await h.signIn(window: 3, staffId: "S002")
            let a2 = try await h.issue(service: "A")
            _ = try await h.issue(service: "B")
            b.clock.advance(20)
            _ = try await h.callNext(window: 3)  // 王强, waited 1200 s
            b.clock.advance(10)
            _ = try await h.complete(window: 3)  // served 600 s
            try await h.rate(a2.id, level: .dissatisfied, channel: "app")
            _ = try await h.callNext(window: 2)  // 李娜, waited 1800 s
            _ = try await h.noShow(window: 2)
            let fu = try #require(try await h.followUpList(state: "open").first { $0.ticket == a2.id })
            b.clock.advance(30)
            _ = try await h.updateFollowUp(fu.id, owner: "主任", result: "已回访", close: true, closedBy: nil)

            let s = try await h.stats(period: "2027-01")
            #expect(s.date == "2027-01")
            #expect((s.hall.issued, s.hall.served, s.hall.noShows) == (4, 3, 1))
            let li = try #require(s.clerks["S001"]), wang = try #require(s.clerks["S002"])
            #expect(s.clerkNames == ["S001": "李娜", "S002": "王强"])
            #expect((li.issued, li.served, li.noShows) == (2, 1, 1))
            #expect(li.waitingMeanSeconds == 1200 && li.waitingP90Seconds == 1800 && li.serviceMeanSeconds == 300, "\(li)")
            #expect(li.ratings == ["satisfied": 1] && li.satisfactionRate == 1 && li.followUps == 0)
            #expect((wang.issued, wang.served, wang.noShows) == (2, 2, 0))
            #expect(wang.waitingMeanSeconds == 1050 && wang.waitingP90Seconds == 1200 && wang.serviceMeanSeconds == 600, "\(wang)")
            #expect(wang.ratings == ["veryDissatisfied": 1, "dissatisfied": 1] && wang.satisfactionRate == 0)
            #expect((wang.followUps, wang.followUpsOnTime, wang.followUpsOverdue) == (2, 1, 0), "\(wang)")
            #expect(s.units["社保所"] == li && s.units["医保所"] == wang)
            #expect(s.only("clerk").services.isEmpty && s.only("clerk").clerks.count == 2)
            #expect(try await h.stats(period: "2027-02").hall.issued == 0)
            #expect(try await h.stats(period: "2027").hall.issued == 4)
            #expect(try await h.stats(period: "2027-01-18").hall.issued == 2)
            let csvLine = s.csv.split(separator: "\n").first { $0.contains(",clerk,S002,") }.map(String.init) ?? ""
            #expect(csvLine.hasSuffix(",2,1,0,0,0,0,王强"), "\(csvLine)")
            let bad = await Self.code { try await h.stats(period: "2027-13") }
            #expect(bad == .invalidData)
        }
    }

    @Test("the ticket list gives each waiting ticket its place in its own service's queue, green ahead of ordinary", arguments: StoreKind.allCases)
    func listPlaces(store kind: StoreKind) async throws {
        try await Bench(kind).run { b in
            let h = b.hall
            _ = try await h.issue(service: "A")
            b.clock.advance(1)
            _ = try await h.issue(service: "B", priority: .green)
            b.clock.advance(1)
            let a2 = try await h.issue(service: "A")
            b.clock.advance(1)
            _ = try await h.issue(service: "A", priority: .green)
            let listed = Dictionary(uniqueKeysWithValues: await h.list(state: .waiting).map { ($0.number, $0.waitingAhead) })
            #expect(listed == ["A003": 0, "A001": 1, "A002": 2, "B001": 0], "\(listed)")
            #expect(await h.ticket(a2.id)?.waitingAhead == 2, "one ticket's own count agrees with the list")
            #expect(await h.list(state: nil).allSatisfy { $0.state == .waiting })
        }
    }

    @Test("one day at three windows: numbers, priority, calls on the displays, recall, no-show, transfer, ratings and the statistics", arguments: StoreKind.allCases)
    func day(store kind: StoreKind) async throws {
        try await Bench(kind).run { b in
            let h = b.hall
            for n in 1...3 { _ = try await h.setStatus(window: n, state: .open, away: nil) }
            _ = try await h.setClerk(window: 1, ClerkCard(name: "李娜", unit: "社保所", title: "科员"))
            #expect(await b.display1.content()?.lines == ["1号窗口 李娜", "科员 社保所"])

            // 08:00 A001, 08:02 A002, 08:04 B001 (green), 08:06 A003
            let a1 = try await h.issue(service: "A")
            b.clock.advance(2)
            let a2 = try await h.issue(service: "A")
            b.clock.advance(2)
            let b1 = try await h.issue(service: "B", priority: .green)
            b.clock.advance(2)
            let a3 = try await h.issue(service: "A")
            #expect([a1.number, a2.number, b1.number, a3.number] == ["A001", "A002", "B001", "A003"])
            #expect(a3.waitingAhead == 2)
            #expect(await Self.code { try await h.issue(service: "X") } == .notFound)

            // 08:10 window 1 serves everything: the green B001 first.
            b.clock.advance(4)
            let first = try #require(try await h.callNext(window: 1))
            #expect(first.number == "B001")
            #expect(await b.display1.content() == DisplayContent(lines: ["B001 请到1号窗口"], effect: .flash))
            #expect(await b.main.content()?.lines == ["B001→1号"])
            // Window 2 serves only B: nobody waits for it.
            #expect(try await h.callNext(window: 2) == nil)
            // Window 3 (A only) calls A001; a second call-next while serving is refused.
            let onThree = try #require(try await h.callNext(window: 3))
            #expect(onThree.number == "A001")
            #expect(await Self.code { try await h.callNext(window: 3) } == .sequenceError)

            // Recall: not before 60 s, at most twice; then a no-show.
            #expect(await Self.code { try await h.recall(window: 3) } == .sequenceError)
            b.clock.advance(1)
            _ = try await h.recall(window: 3)
            b.clock.advance(1)
            _ = try await h.recall(window: 3)
            b.clock.advance(1)
            #expect(await Self.code { try await h.recall(window: 3) } == .sequenceError)
            let gone = try await h.noShow(window: 3)
            #expect(gone.state == .noShow)

            // 08:20 window 1 completes B001: its keypad asks; the citizen presses 满意.
            b.clock.advance(7)
            _ = try await h.complete(window: 1)
            try await eventually("keypad-1 waiting for a key") { await b.keypad1.isWaiting }
            #expect(try await b.keypad1.press(.satisfied))
            await h.settleRatings()
            #expect(await Self.code { try await h.rate("B001", level: .verySatisfied, channel: "api") } == .conflict)
            #expect(await Self.code { try await h.rate("A002", level: .verySatisfied, channel: "api") } == .sequenceError)

            // 08:21 window 3 calls A002 and transfers it to B, keeping its issue time; window 2 calls it.
            b.clock.advance(1)
            let a2called = try #require(try await h.callNext(window: 3))
            #expect(a2called.number == "A002")
            #expect(await Self.code { try await h.transfer(window: 3, to: "A") } == .invalidData)
            let moved = try await h.transfer(window: 3, to: "B")
            #expect(moved.service == "B" && moved.number == "A002" && moved.queuedAt == a2.issuedAt)
            let onTwo = try #require(try await h.callNext(window: 2))
            #expect(onTwo.number == "A002")
            // 08:31 complete on window 2 (no keypad: nothing to ask).
            b.clock.advance(10)
            _ = try await h.complete(window: 2)
            try await h.rate("A002", level: .veryDissatisfied, channel: "paper")

            // Window 1 goes away with a notice; calls on it are refused.
            let away = try await h.setStatus(window: 1, state: .away, away: AwayNotice(reason: "开会", contact: "8801", backAt: "10:30"))
            #expect(away.state == .away)
            #expect(await b.display1.content()?.lines == ["暂停服务: 开会", "10:30 回"])
            #expect(await Self.code { try await h.callNext(window: 1) } == .sequenceError)
            #expect(await Self.code { try await h.complete(window: 2) } == .sequenceError)

            // Daily cap of B: three tickets (A002 moved to B keeps its A number).
            #expect(try await h.issue(service: "B").number == "B002")
            #expect(try await h.issue(service: "B").number == "B003")
            #expect(await Self.code { try await h.issue(service: "B") } == .sequenceError)

            // The figures, by hand: waits to the first call A001 10 min (08:00→08:10, recalls do not count), B001 6
            // (08:04→08:10), A002 19 (08:02→08:21 on window 2 after its transfer); served B001 (10 min) and A002 (10 min).
            let stats = try await h.stats(date: await h.day(b.clock.now))
            #expect(stats.hall.issued == 6)
            #expect(stats.hall.served == 2)
            #expect(stats.hall.noShows == 1)
            func near(_ x: Double?, _ y: Double) -> Bool { x.map { abs($0 - y) < 0.01 } ?? false }
            #expect(near(stats.hall.waitingMeanSeconds, (10 + 6 + 19) * 60 / 3))
            #expect(near(stats.hall.waitingP90Seconds, 19 * 60))
            #expect(near(stats.hall.serviceMeanSeconds, 10 * 60))
            #expect(stats.hall.ratings == ["satisfied": 1, "veryDissatisfied": 1])
            #expect(stats.hall.satisfactionRate == 0.5)
            #expect(stats.windows["1"]?.served == 1)
            // 首问负责: window 3 referred A002 on to B; the referral is recorded where it was made.
            #expect(stats.hall.referredOut == 1 && stats.windows["3"]?.referredOut == 1 && stats.services["A"]?.referredOut == 1)
            #expect(stats.services["B"]?.referredOut == 0)
            #expect(b.events.all.contains { $0.type == "referral" && $0.data["toService"] == .string("B") && $0.data["window"] == .number(3) })
            #expect(stats.clerks["李娜"]?.ratings == ["satisfied": 1])
            #expect(stats.services["B"]?.issued == 4)
            // … and the 非常不满意's follow-up, open, not yet overdue.
            #expect(stats.csv.contains(",hall,all,6,2,1,700.0,1140.0,600.0,0,1,0,0,1,0,0.5000,1,0,0,1,0,0,\n"), "\(stats.csv)")
            let bad = try await h.ratings(from: b.clock.now.addingTimeInterval(-86_400), to: b.clock.now.addingTimeInterval(60), window: nil)
                .filter { $0.level == .veryDissatisfied }
            #expect(bad.map(\.number) == ["A002"])
        }
    }

    @Test("a window caller's call and recall keys work the window like the clerk program; keys of other devices do nothing", arguments: StoreKind.allCases)
    func callerKeys(store kind: StoreKind) async throws {
        try await Bench(kind).run { b in
            let h = b.hall
            _ = try await h.setStatus(window: 1, state: .open, away: nil)
            _ = try await h.issue(service: "A")
            await h.key("call", on: DeviceID("keypad-9")!)
            #expect(await h.list(state: .waiting).count == 1)
            await h.key("call", on: DeviceID("keypad-1")!)
            #expect(await h.list(state: .called).map(\.number) == ["A001"])
            #expect(await b.display1.content()?.lines == ["A001 请到1号窗口"])
            b.clock.advance(2)
            await h.key("recall", on: DeviceID("keypad-1")!)
            #expect(await h.ticket("A001")?.recalls == 1)
        }
    }

    @Test("a rating request that times out is recorded as not rated; the queue survives a restart", arguments: StoreKind.allCases)
    func timeoutAndRestart(store kind: StoreKind) async throws {
        try await Bench(kind).run { b in
            let h = b.hall
            _ = try await h.setStatus(window: 1, state: .open, away: nil)
            _ = try await h.issue(service: "A")
            _ = try await h.issue(service: "A", priority: .green)
            _ = try await h.callNext(window: 1)
            _ = try await h.complete(window: 1)
            try await eventually("keypad-1 waiting for a key") { await b.keypad1.isWaiting }
            try await b.keyClock.waitForSleepers()
            b.keyClock.advance(by: .seconds(30))
            await h.settleRatings()
            let ratings = try await h.ratings(from: .distantPast, to: .distantFuture, window: 1)
            #expect(ratings.count == 1 && ratings[0].level == nil && ratings[0].number == "A002")

            // A new Hall on the same database finds the waiting ticket and the open window.
            let again = Hall(setup: h.setup, store: b.store, registry: b.registry, events: b.events, logger: testLogger, now: { b.clock.now })
            try await again.load()
            #expect(await again.list(state: .waiting).map(\.number) == ["A001"])
            #expect(await again.windowList().first?.state == .open)
            #expect(try await again.issue(service: "A").number == "A003")
        }
    }

    @Test("completing announces rating.requested (ticket, window, keypad, deadline) when the keypad asks; a rating whose write fails is retried and stored", arguments: StoreKind.allCases)
    func ratingRequestedAndRetried(store kind: StoreKind) async throws {
        try await Bench(kind, ratingRetryDelays: [.milliseconds(300), .milliseconds(300), .milliseconds(300)]).run { b in
            let h = b.hall
            let done = try await b.completeWithRatingWritesBroken()
            let requested = try await b.events.next(EventType.ratingRequested)
            #expect(requested.device?.rawValue == "keypad-1")
            #expect(requested.data["ticket"]?.stringValue == done.id && requested.data["number"]?.stringValue == "A001")
            #expect(requested.data["window"] == .number(1) && requested.data["keypad"]?.stringValue == "keypad-1")
            #expect(requested.data["deadline"]?.stringValue == Timestamp.string(b.clock.now.addingTimeInterval(30)), "\(requested.data)")
            try await eventually("keypad-1 waiting for a key") { await b.keypad1.isWaiting }
            #expect(try await b.keypad1.press(.satisfied))
            try await eventually("a failed rating write", seen: { "\(await h.ratingWriteFailures) failures" }) { await h.ratingWriteFailures >= 1 }
            try await b.repairRatingWrites()
            await h.settleRatings()
            let ratings = try await h.ratings(from: .distantPast, to: .distantFuture, window: 1)
            #expect(ratings.map(\.level) == [.satisfied], "the press survived the failed write")
            #expect(await h.ratingsLost == 0)
            let stored = try await b.events.next(EventType.keypadRating)
            #expect(stored.data["level"]?.stringValue == "satisfied")
            #expect(!b.events.all.contains { $0.type == EventType.ratingFailed })
        }
    }

    @Test("a rating that still cannot be stored after its retries is logged, published as rating.failed with what was pressed, and counted", arguments: StoreKind.allCases)
    func ratingFailed(store kind: StoreKind) async throws {
        try await Bench(kind, ratingRetryDelays: [.milliseconds(50), .milliseconds(50)]).run { b in
            let h = b.hall
            let done = try await b.completeWithRatingWritesBroken()
            try await eventually("keypad-1 waiting for a key") { await b.keypad1.isWaiting }
            #expect(try await b.keypad1.press(.verySatisfied))
            let failed = try await b.events.next(EventType.ratingFailed)
            #expect(failed.data["ticket"]?.stringValue == done.id && failed.data["level"]?.stringValue == "verySatisfied", "\(failed.data)")
            #expect(failed.data["error"]?.stringValue?.contains("disk I/O error (test)") == true, "\(failed.data)")
            await h.settleRatings()
            #expect(await h.ratingsLost == 1)
            #expect(await h.ratingWriteFailures == 3, "one try and two retries")
            #expect(try await h.ratings(from: .distantPast, to: .distantFuture, window: 1).isEmpty)
        }
    }
}

@Suite("a shared hall's ticket issue", .timeLimit(.minutes(1)))
struct SharedIssueTests {
    @Test("in a hall shared on PostgreSQL, the hall issues a ticket and its ticket.issued event in one transaction of the store")
    func oneTransaction() async throws {
        let store = try StoreKind.postgresStore(hall: "one-txn-" + UUID().uuidString.lowercased())
        defer { store.close() }
        let services = [HallService(code: "A", name: "社会保障")]
        try await store.join(services: services, windows: [HallWindowConfig(number: 1)])
        let registry = DeviceRegistry(devices: [], events: EventRecorder(), logger: testLogger)
        let hall = Hall(
            setup: HallSetup(services: services, windows: [HallWindowConfig(number: 1)]), store: store, registry: registry, events: SharedHallEvents(store: store),
            logger: testLogger, now: { Date(timeIntervalSince1970: 1_800_000_000) })
        try await hall.load()
        #expect(await hall.ticketLog is SharedHallEvents, "the hall does not issue through the shared store's transaction")
        let ticket = try await hall.issue(service: "A")
        let issued = try await store.events(after: 0, limit: 10, types: ["ticket.issued"])
        #expect(issued.count == 1 && issued.first?.data["id"]?.stringValue == ticket.id, "\(issued)")
    }
}
