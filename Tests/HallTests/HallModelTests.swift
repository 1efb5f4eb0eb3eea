import ChildProcess
import DeviceKit
import Foundation
import Hall
@testable import HallAPI
import HallAPIModels
import HallModel
import PostgresStore
import Synchronization
import Testing

/// The ticket's life as a pure rule: no store, no devices, no clock.
@Suite("ticket state machine", .timeLimit(.minutes(1)))
struct TicketMachineTests {
    let t0 = Date(timeIntervalSince1970: 1_800_000_000)
    let machine = TicketMachine(recallMax: 2, recallMinInterval: .seconds(60))

    func waiting(_ number: String = "A001", service: String = "A") -> Ticket {
        Ticket(id: "id-\(number)", number: number, service: service, day: "2027-01-15", priority: .normal, state: .waiting, issuedAt: t0, queuedAt: t0, recalls: 0)
    }

    @Test("call, recall, complete: each returns the new ticket and the actions in order; the rating is asked only after completion")
    func serve() throws {
        let called = try machine.call(waiting(), window: 3, busy: nil, clerk: "王芳", at: t0 + 60)
        #expect(called.ticket.state == .called && called.ticket.window == 3 && called.ticket.clerk == "王芳" && called.ticket.calledAt == t0 + 60)
        #expect(called.actions == [.occupy(window: 3), .announceCall(window: 3), .publish("ticket.called")])

        #expect(throws: HallError.notNow("A001 was called 30 s ago: recall after 60 s")) {
            try machine.recall(called.ticket, window: 3, lastCall: nil, at: t0 + 90)
        }
        let recalled = try machine.recall(called.ticket, window: 3, lastCall: nil, at: t0 + 120)
        #expect(recalled.ticket.recalls == 1)
        #expect(recalled.actions == [.occupy(window: 3), .announceCall(window: 3), .publish("ticket.called", recall: 1)])
        let twice = try machine.recall(recalled.ticket, window: 3, lastCall: t0 + 120, at: t0 + 180)
        #expect(throws: HallError.notNow("A001 was recalled 2 times (at most 2): mark it no-show")) {
            try machine.recall(twice.ticket, window: 3, lastCall: t0 + 180, at: t0 + 600)
        }

        #expect(throws: HallError.self) { try machine.ratable(twice.ticket) }
        let done = try machine.complete(twice.ticket, window: 3, at: t0 + 900)
        #expect(done.ticket.state == .done && done.ticket.finishedAt == t0 + 900)
        #expect(done.actions == [.free(window: 3), .publish("ticket.finished"), .askRating(window: 3)])
        #expect(try machine.ratable(done.ticket) == 3)
    }

    @Test("a busy window calls nobody; only a waiting ticket is called; no-show needs a called ticket")
    func refusals() throws {
        let busy = try machine.call(waiting("A001"), window: 1, busy: nil, clerk: nil, at: t0).ticket
        #expect(throws: HallError.notNow("window 1 is still serving A001: complete, no-show or transfer it first")) {
            try machine.call(waiting("A002"), window: 1, busy: busy, clerk: nil, at: t0)
        }
        #expect(throws: HallError.notNow("A001 is called: only a waiting ticket is called")) {
            try machine.call(busy, window: 2, busy: nil, clerk: nil, at: t0)
        }
        #expect(throws: HallError.notNow("window 1 has no called ticket")) { try machine.noShow(nil, window: 1, at: t0) }
        let gone = try machine.noShow(busy, window: 1, at: t0 + 300)
        #expect(gone.ticket.state == .noShow && gone.actions == [.free(window: 1), .publish("ticket.finished")])
        #expect(throws: HallError.self) { try machine.ratable(gone.ticket) }
        #expect(throws: HallError.notNow("window 1 is serving nobody")) { try machine.complete(gone.ticket, window: 1, at: t0) }
    }

    @Test("a transfer puts the ticket back in another queue by its issue time; to its own service is refused naming the field")
    func transfer() throws {
        var ticket = waiting()
        ticket.queuedAt = t0 + 10
        let called = try machine.call(ticket, window: 2, busy: nil, clerk: nil, at: t0 + 60)
        let moved = try machine.transfer(called.ticket, window: 2, to: "B")
        #expect(moved.ticket.state == .waiting && moved.ticket.service == "B" && moved.ticket.transferredFrom == "A")
        #expect(moved.ticket.queuedAt == t0 && moved.ticket.window == nil && moved.ticket.calledAt == nil && moved.ticket.recalls == 0)
        #expect(moved.ticket.number == "A001" && moved.ticket.issueService == "A", "the number stays that of the service it was issued for")
        #expect(moved.actions == [.free(window: 2), .publish("ticket.transferred")])
        #expect(throws: HallError.invalid("A001 is already in service A", field: "service")) { try machine.transfer(called.ticket, window: 2, to: "A") }
    }

    @Test("numbers have at least three digits and read back")
    func numbers() {
        #expect(Ticket.number(prefix: "A", seq: 7) == "A007")
        #expect(Ticket.number(prefix: "B", seq: 1234) == "B1234")
        var t = waiting("C042", service: "C")
        #expect(t.sequence == 42)
        t.transferredFrom = "C"
        t.service = "D"
        #expect(t.issueService == "C")
    }
}

/// What every HallStore must keep, run against each store.
@Suite("hall store contract", .timeLimit(.minutes(2)))
struct HallStoreContractTests {
    let t0 = Date(timeIntervalSince1970: 1_800_000_000)

    func withStore(_ kind: StoreKind, _ body: (any HallStore) async throws -> Void) async throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = try await kind.make(directory: dir)
        defer { StoreKind.close(store) }
        try await body(store)
    }

    func new(_ id: String, _ service: String = "A", day: String = "2027-01-15", appointment: String? = nil, cap: Int? = nil) -> NewTicket {
        NewTicket(id: id, day: day, service: service, priority: .normal, appointment: appointment, at: t0, dailyCap: cap)
    }

    @Test("the roster: clerks stored and read back, a removal kept with its time; a ticket and a rating keep the staff id; the ledger by time", arguments: StoreKind.allCases)
    func roster(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            let li = Clerk(staffId: "S001", name: "李娜", unit: "社保所", title: "科员", partyMember: true, services: ["A"])
            try await store.saveClerk(li)
            try await store.saveClerk(Clerk(staffId: "S002", name: "王强"))
            var removed = li
            removed.removedAt = t0
            try await store.saveClerk(removed)
            #expect(try await store.clerks() == [removed, Clerk(staffId: "S002", name: "王强")])
            var t = try await store.issueTicket(new("t1"))
            let waiting = t.state
            t.state = .called
            t.window = 3
            t.clerk = "李娜"
            t.staffId = "S001"
            try await store.updateTicket(t, from: waiting)
            #expect(try await store.tickets(day: "2027-01-15").first?.staffId == "S001")
            try await store.saveRating(Rating(ticket: t.id, number: t.number, service: "A", window: 3, clerk: "李娜", level: .satisfied, stars: 4, time: t0, channel: "evaluator", staffId: "S001"))
            #expect(try await store.ratings(day: "2027-01-15").map(\.staffId) == ["S001"])

            // The 办不成事 ledger: written, resolved in place, read by time.
            var entry = LedgerEntry(id: "ldg-1", at: t0, matter: "备案", contact: "138****5678", reason: "未开通", window: 3, staffId: "S001", clerk: "李娜", handler: "医保局")
            try await store.saveLedgerEntry(entry)
            try await store.saveLedgerEntry(LedgerEntry(id: "ldg-2", at: t0 + 86_400, matter: "证明", contact: nil, reason: "需本人", window: nil, staffId: nil, clerk: nil, handler: nil))
            entry.state = .resolved
            entry.resolution = "已办结"
            entry.resolvedAt = t0 + 60
            try await store.saveLedgerEntry(entry)
            #expect(try await store.ledger(from: t0, to: t0 + 86_400) == [entry])
            #expect(try await store.ledger(from: t0, to: t0 + 2 * 86_400).map(\.id) == ["ldg-1", "ldg-2"])
            #expect(try await store.ledgerEntry("ldg-1") == entry)
            #expect(try await store.ledgerEntry("ldg-9") == nil)
        }
    }

    @Test("fifty concurrent issues get fifty different numbers; numbers are per service and day; the cap holds", arguments: StoreKind.allCases)
    func numbering(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            let numbers = try await withThrowingTaskGroup(of: String.self) { group in
                for i in 0..<50 { group.addTask { try await store.issueTicket(new("t\(i)")).number } }
                return try await group.reduce(into: [String]()) { $0.append($1) }
            }
            #expect(Set(numbers).count == 50)
            #expect(Set(numbers) == Set((1...50).map { Ticket.number(prefix: "A", seq: $0) }))
            #expect(try await store.issueTicket(new("b1", "B")).number == "B001")
            #expect(try await store.issueTicket(new("a-next-day", day: "2027-01-16")).number == "A001")
            _ = try await store.issueTicket(new("c1", "C", cap: 2))
            _ = try await store.issueTicket(new("c2", "C", cap: 2))
            await #expect(throws: HallStoreError.dailyCapReached(2)) { try await store.issueTicket(new("c3", "C", cap: 2)) }
            #expect(try await store.tickets(day: "2027-01-15").count == 53)
        }
    }

    @Test("the thousandth ticket of a service's day is A1000, the one before A999", arguments: StoreKind.allCases)
    func fourDigits(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            let numbers = try await withThrowingTaskGroup(of: [String].self) { group in
                for lane in 0..<20 {
                    group.addTask { var mine: [String] = []; for i in 0..<50 { mine.append(try await store.issueTicket(new("t\(lane)-\(i)")).number) }; return mine }
                }
                return try await group.reduce(into: Set<String>()) { $0.formUnion($1) }
            }
            #expect(numbers.count == 1000 && numbers.contains("A999") && numbers.contains("A1000") && numbers.contains("A001"), "\(numbers.count) numbers")
            #expect(numbers == Set((1...1000).map { Ticket.number(prefix: "A", seq: $0) }))
        }
    }

    /// psql, quiet, stopping at the first error, rows unaligned: append the database URL.
    static let psql = ["/usr/bin/psql", "-q", "-X", "-v", "ON_ERROR_STOP=1", "-A", "-t", "-d"]

    /// A new, empty database on the test server: its URL.
    func freshDatabase() async throws -> String {
        guard let url = ProcessInfo.processInfo.environment["HALLD_TEST_POSTGRES"], var parts = URLComponents(string: url) else {
            throw ProcessFailure("HALLD_TEST_POSTGRES is not set: make test starts a private PostgreSQL server")
        }
        let database = "fresh_" + UUID().uuidString.prefix(8).lowercased()
        let created = try await runCommand(Self.psql + [url, "-c", "CREATE DATABASE \(database)"])
        guard created.status == 0 else { throw ProcessFailure("CREATE DATABASE \(database): \(created.output)") }
        parts.path = "/" + database
        return parts.string!
    }

    @Test("two hallds joining a new database at once: the schema is made once, versioned; the services of the first stand, a different set is refused with the difference")
    func migrationsAtOnce() async throws {
        let fresh = try await freshDatabase()
        let psql = Self.psql
        let services = [HallService(code: "A", name: "社会保障"), HallService(code: "B", name: "医疗保险")]
        // Production's 5 s budget, as StoreKind.postgresStore says, is not what is tested:
        // a new database's whole schema, made while every suite runs, once took longer.
        let (one, two) = (
            try PostgresHallStore(url: fresh, hall: "h", logger: testLogger, operationTimeout: .seconds(30)),
            try PostgresHallStore(url: fresh, hall: "h", logger: testLogger, operationTimeout: .seconds(30))
        )
        defer {
            one.close()
            two.close()
        }
        async let a = one.join(services: services, windows: [HallWindowConfig(number: 1)])
        async let b = two.join(services: services, windows: [HallWindowConfig(number: 2, services: ["B"])])
        _ = try await (a, b)
        let versions = try await runCommand(psql + [fresh, "-c", "SELECT version FROM halld_schema ORDER BY version"])
        let applied: [String] = versions.output.split(separator: "\n").map { String($0) }
        let expected: [String] = (1...PostgresHallStore.schemaVersion).map { String($0) }
        #expect(applied == expected, "\(versions.output)")
        #expect(try await one.windows().map(\.services) == [[], ["B"]])
        do {
            try await two.join(services: [services[0], HallService(code: "C", name: "不动产")], windows: [])
            Issue.record("a halld with other services joined the hall")
        } catch let e as HallMembershipError {
            #expect(e.description.contains("service C is configured here but not in the hall"), "\(e)")
            #expect(e.description.contains("the hall has service B, not configured here"), "\(e)")
        }
    }

    @Test("the district's figures read a day of every hall through an index, not the ticket table's whole history; a database made before the index gets it when a halld joins")
    func districtIndex() async throws {
        let fresh = try await freshDatabase()
        let services = [HallService(code: "A", name: "社会保障")]
        let first = try PostgresHallStore(url: fresh, hall: "h", logger: testLogger, operationTimeout: .seconds(30))
        defer { first.close() }
        try await first.join(services: services, windows: [])
        // As an older halld left it: the tables without the index.
        let dropped = try await runCommand(Self.psql + [fresh, "-c", "DROP INDEX ticket_district_day"])
        #expect(dropped.status == 0, "\(dropped.output)")
        let second = try PostgresHallStore(url: fresh, hall: "h2", logger: testLogger, operationTimeout: .seconds(30))
        defer { second.close() }
        try await second.join(services: services, windows: [])
        // With a sequential scan priced out, the planner reads a day by whatever index
        // serves `day = …`: the district's one, or the whole table when there is none.
        let plan = try await runCommand(
            Self.psql + [fresh, "-c", "SET enable_seqscan = off", "-c", "EXPLAIN SELECT hall, id FROM ticket WHERE day = '2026-11-30' ORDER BY hall, issued_at, id"])
        #expect(plan.status == 0 && plan.output.contains("ticket_district_day"), "\(plan.output)")
    }

    @Test("forty issues at once through one halld's store open at most its eight connections to the server; every number once")
    func connectionCap() async throws {
        let fresh = try await freshDatabase()
        let database = try #require(URLComponents(string: fresh)).path.dropFirst()
        let store = try PostgresHallStore(url: fresh, hall: "h", logger: testLogger, operationTimeout: .seconds(30))
        defer { store.close() }
        try await store.join(services: [HallService(code: "A", name: "社会保障")], windows: [])
        let numbers = try await withThrowingTaskGroup(of: String.self) { group in
            for i in 0..<40 { group.addTask { try await store.issueTicket(new("cap-\(i)")).number } }
            return try await group.reduce(into: Set<String>()) { $0.insert($1) }
        }
        #expect(numbers == Set((1...40).map { Ticket.number(prefix: "A", seq: $0) }))
        // The pool keeps what it opened for a minute: what is open now is what the burst took.
        let open = try await runCommand(
            Self.psql + [fresh, "-c", "SELECT count(*) FROM pg_stat_activity WHERE datname = '\(database)' AND application_name = 'halld'"])
        let count = Int(open.output.trimmingCharacters(in: .whitespacesAndNewlines))
        #expect(count.map { (1...PostgresHallStore.maximumConnections).contains($0) } == true, "connections open: \(open.output)")
    }

    @Test("two PCs on one PostgreSQL hall: concurrent issues from both get every number once and none skipped; their events one gapless sequence")
    func twoPCsOneHall() async throws {
        let hall = "two-pcs-" + UUID().uuidString.lowercased()
        let kiosk = try StoreKind.postgresStore(hall: hall)
        let window = try StoreKind.postgresStore(hall: hall)
        defer {
            kiosk.close()
            window.close()
        }
        try await kiosk.migrate()
        try await window.migrate()
        let numbers = try await withThrowingTaskGroup(of: String.self) { group in
            for i in 0..<40 {
                let store = i % 2 == 0 ? kiosk : window
                group.addTask { try await store.issueTicket(new("pc-\(i)")).number }
            }
            return try await group.reduce(into: [String]()) { $0.append($1) }
        }
        #expect(numbers.sorted() == (1...40).map { Ticket.number(prefix: "A", seq: $0) })
        try await withThrowingTaskGroup(of: Void.self) { group in
            for i in 0..<30 {
                let store = i % 2 == 0 ? kiosk : window
                group.addTask { _ = try await store.appendEvent(NewEvent(type: "ticket.called"), time: Timestamp.string(), committed: { _ in }) }
            }
            try await group.waitForAll()
        }
        #expect(try await kiosk.events(after: 0, limit: 100, types: nil).map(\.seq) == Array(1...30))
        #expect(try await window.lastEventSequence() == 30)
        // Another hall in the same database (a district) numbers on its own.
        let other = try StoreKind.postgresStore(hall: hall + "-b")
        defer { other.close() }
        #expect(try await other.issueTicket(new("b-1")).number == "A001")
        #expect(try await other.lastEventSequence() == 0)
    }

    @Test("a halld follows its hall's events as other hallds commit them (LISTEN/NOTIFY): the stored ones first, then each new one once, in order; another hall's are not its")
    func followAcrossPCs() async throws {
        let hall = "follow-" + UUID().uuidString.lowercased()
        let kiosk = try StoreKind.postgresStore(hall: hall)
        let window = try StoreKind.postgresStore(hall: hall)
        let elsewhere = try StoreKind.postgresStore(hall: hall + "-b")
        defer {
            kiosk.close()
            window.close()
            elsewhere.close()
        }
        try await kiosk.migrate()
        func append(_ store: PostgresHallStore, _ n: Int) async throws {
            _ = try await store.appendEvent(NewEvent(type: "ticket.called", data: ["n": .number(Double(n))]), time: Timestamp.string(), committed: { _ in })
        }
        for n in 0..<5 { try await append(kiosk, n) }
        let followed = Task {
            var seen: [Int64] = []
            for try await event in window.follow(after: 0) {
                seen.append(event.event.seq)
                if seen.count == 25 { break }
            }
            return seen
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for n in 5..<25 {
                group.addTask { try await append(n % 2 == 0 ? kiosk : window, n) }
                group.addTask { try await append(elsewhere, n) }
            }
            try await group.waitForAll()
        }
        let deadline = Task {
            try await Task.sleep(for: .seconds(20))
            followed.cancel()
        }
        defer { deadline.cancel() }
        let seen = try await followed.value
        #expect(seen == Array(1...25), "\(seen)")
    }

    @Test("an appointment is registered and checked in once, for its own service, gives the ticket its slot; cancelled ones are kept and refused; notices and overdue promises read back", arguments: StoreKind.allCases)
    func appointments(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            try await store.addAppointment(Appointment(code: "YY0001", service: "A", slot: t0 + 3600, name: "张*丰", phone: "138****5678", createdAt: t0))
            await #expect(throws: HallStoreError.appointmentExists, "a code is registered once") {
                try await store.addAppointment(Appointment(code: "YY0001", service: "B", slot: t0))
            }
            await #expect(throws: HallStoreError.unknownAppointment) { try await store.issueTicket(new("x", "B", appointment: "YY0001")) }
            await #expect(throws: HallStoreError.unknownAppointment) { try await store.issueTicket(new("y", appointment: "NOPE")) }
            let t = try await store.issueTicket(new("p1", appointment: "YY0001"))
            #expect(t.slot == t0 + 3600 && t.appointment == "YY0001")
            await #expect(throws: HallStoreError.appointmentUsed(ticket: "p1")) { try await store.issueTicket(new("p2", appointment: "YY0001")) }
            let read = try await store.appointment("YY0001")
            #expect(read?.ticket == "p1" && read?.state == .checkedIn && read?.name == "张*丰" && read?.phone == "138****5678" && read?.minutes == 30, "\(String(describing: read))")
            // Cancelled and no-show appointments are kept, and never checked in.
            try await store.addAppointment(Appointment(code: "YY0002", service: "A", slot: t0 + 7200))
            var cancelled = try #require(try await store.appointment("YY0002"))
            cancelled.state = .cancelled
            cancelled.closedBy = "kiosk"
            try await store.updateAppointment(cancelled, from: .booked)
            await #expect(throws: HallStoreError.appointmentChanged(now: .cancelled)) { try await store.updateAppointment(cancelled, from: .booked) }
            await #expect(throws: HallStoreError.appointmentClosed(.cancelled)) { try await store.issueTicket(new("p3", appointment: "YY0002")) }
            var checkedIn = try #require(try await store.appointment("YY0001"))
            checkedIn.state = .noShow
            await #expect(throws: HallStoreError.appointmentChanged(now: .checkedIn), "a checked-in appointment does not become a no-show") {
                try await store.updateAppointment(checkedIn, from: .booked)
            }
            #expect(try await store.appointments(from: t0, to: t0 + 86_400).map { "\($0.code) \($0.state.rawValue) \($0.closedBy ?? "-")" } == ["YY0001 checkedIn -", "YY0002 cancelled kiosk"])
            #expect(try await store.appointments(from: t0 + 7201, to: t0 + 86_400).isEmpty)
            #expect(try await store.tickets(day: "2027-01-15").map(\.id) == ["p1"], "a refused check-in stores no ticket")
            // Notices are archived with their ticket.
            var n = Notice(id: "n1", ticket: "p1", number: "A001", service: "A", window: 2, staffId: "S1", clerk: "王芳", at: t0, text: "申请材料：\n  1. 居民身份证\n")
            n.printJob = "cups-1"
            try await store.saveNotice(n)
            #expect(try await store.notices(ticket: "p1") == [n])
            #expect(try await store.notices(ticket: "p2").isEmpty)
            // The promises a ticket went past read back.
            var late = try await store.issueTicket(new("p4"))
            #expect(try await store.markOverdue(ticket: "p4", limit: "waiting"))
            #expect(try await store.markOverdue(ticket: "p4", limit: "waiting") == false, "a promise is marked once")
            late.state = .called
            try await store.updateTicket(late, from: .waiting)
            #expect(try await store.markOverdue(ticket: "p4", limit: "service"))
            let p4 = try await store.tickets(day: "2027-01-15").first { $0.id == "p4" }
            #expect(p4?.overdue == ["waiting", "service"] && p4?.state == .called, "an update keeps the marks: \(String(describing: p4))")
        }
    }

    @Test("a ticket's new state reads back whole; one rating per ticket; ratings by time, window and day; windows round-trip", arguments: StoreKind.allCases)
    func ticketsRatingsWindows(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            var t = try await store.issueTicket(new("r1"))
            t.state = .done
            t.window = 2
            t.clerk = "李明"
            t.calledAt = t0 + 60
            t.finishedAt = t0 + 600
            t.recalls = 1
            t.printJob = "job-1"
            try await store.updateTicket(t, from: .waiting)
            #expect(try await store.tickets(day: "2027-01-15") == [t])
            // A change made from a state the ticket has left (another halld changed it
            // first) is refused, and nothing is written.
            var stale = t
            stale.state = .called
            stale.window = 3
            await #expect(throws: HallStoreError.stateChanged(now: .done)) { try await store.updateTicket(stale, from: .waiting) }
            #expect(try await store.tickets(day: "2027-01-15") == [t])

            let rating = Rating(ticket: t.id, number: t.number, service: "A", window: 2, clerk: "李明", level: .satisfied, stars: 4, time: t0 + 610, channel: "evaluator")
            try await store.saveRating(rating)
            var second = rating
            second.level = .veryDissatisfied
            await #expect(throws: HallStoreError.alreadyRated) { try await store.saveRating(second) }
            #expect(try await store.ratings(from: t0, to: t0 + 700, window: 2) == [rating])
            #expect(try await store.ratings(from: t0, to: t0 + 700, window: 1).isEmpty)
            #expect(try await store.ratings(from: t0 + 611, to: t0 + 700, window: nil).isEmpty, "the end of the range is open, the start closed")
            #expect(try await store.ratings(day: "2027-01-15") == [rating])

            let w = StoredWindow(number: 2, state: .away, away: AwayNotice(reason: "会议", backAt: "10:30"), clerk: ClerkCard(name: "李明", unit: "人社所"), current: nil)
            try await store.saveWindow(w)
            var open = w
            open.state = .open
            open.away = nil
            open.current = "r1"
            try await store.saveWindow(open)
            #expect(try await store.windows() == [open])
        }
    }

    @Test("a ticket and its event in one transaction: both stored, the event numbered next; an event that cannot be made leaves no ticket and takes no number", arguments: [StoreKind.sqlite, .postgresql])
    func ticketWithEvent(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            let tickets = try #require(store as? any TicketEventStore, "\(kind) keeps no tickets with their events")
            let log = EventLog(store: store)
            _ = try await log.publish(NewEvent(type: "device.status"))
            let seen = Mutex<[Int64]>([])
            let issued = { @Sendable (t: Ticket) in NewEvent(type: "ticket.issued", data: ["number": .string(t.number)]) }
            let time = "2027-01-15T08:00:00.000Z"
            let (first, event) = try await tickets.issueTicket(new("t1"), event: issued, time: time) { e in seen.withLock { $0.append(e.seq) } }
            #expect(first.number == "A001" && event.seq == 2 && event.type == "ticket.issued" && event.time == time)
            let stored = try await log.events(after: 1)
            #expect(stored.map(\.seq) == [2] && stored.first?.data["number"]?.stringValue == "A001", "\(stored)")

            struct Refused: Error {}
            await #expect(throws: Refused.self) { _ = try await tickets.issueTicket(new("t2"), event: { _ in throw Refused() }, time: time) { _ in } }
            #expect(try await store.tickets(day: "2027-01-15").map(\.id) == ["t1"], "the ticket of the event that failed was kept")
            let (next, nextEvent) = try await tickets.issueTicket(new("t3"), event: issued, time: time) { e in seen.withLock { $0.append(e.seq) } }
            #expect(next.number == "A002" && nextEvent.seq == 3, "\(next.number), event \(nextEvent.seq)")
            #expect(try await log.lastSequence() == 3)
            #expect(seen.withLock { $0 } == [2, 3])
        }
    }

    @Test("events get increasing numbers, are handed on in order, page by type or family, and trimming never reuses a number", arguments: StoreKind.allCases)
    func eventLog(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            let log = EventLog(store: store)
            #expect(try await log.firstAvailable() == 1 && log.subscriberCount == 0)
            let live = log.subscribe()
            for (i, type) in ["ticket.issued", "keypad.rating", "ticket.called", "device.status"].enumerated() {
                _ = try await log.publish(NewEvent(type: type, data: .object(["i": .number(Double(i))])))
            }
            var delivered: [Int64] = []
            for await e in live.events {
                delivered.append(e.seq)
                if delivered.count == 4 { break }
            }
            #expect(delivered == [1, 2, 3, 4])
            #expect(try await log.events(after: 0, types: ["ticket"]).map(\.seq) == [1, 3])
            #expect(try await log.events(after: 1, types: ["ticket", "keypad.rating"]).map(\.seq) == [2, 3])
            #expect(try await log.events(after: 0, limit: 2).map(\.seq) == [1, 2])
            #expect(try await log.lastSequence() == 4)
            #expect(try await log.trim(olderThan: .seconds(0), now: Date().addingTimeInterval(5)) == 4)
            #expect(try await log.firstAvailable() == 5, "an empty log resumes after the last number given")
            #expect(try await log.publish(NewEvent(type: "ticket.issued")).seq == 5)
        }
    }
}

/// Request bodies read as the API reads them: the fields come from the request type.
@Suite("strict request bodies", .timeLimit(.minutes(1)))
struct StrictJSONTests {
    func refusal<T: Decodable>(_ type: T.Type, _ body: String) -> APIError? {
        do {
            _ = try StrictJSON.decode(type, from: Data(body.utf8))
            return nil
        } catch {
            return error as? APIError
        }
    }

    @Test("an unknown field is refused with its path at any depth, the top level naming the type's fields; a misspelt required field names what was sent")
    func unknownFields() throws {
        let top = try #require(refusal(IssueRequest.self, #"{"service":"A","colour":"red"}"#))
        #expect(top.body.field == "colour")
        #expect(top.body.message == "unknown field 'colour'; expected service, priority, appointment, print")
        let nested = try #require(refusal(WindowStatusRequest.self, #"{"state":"away","away":{"reason":"会议","bogus":1}}"#))
        #expect(nested.body.field == "away.bogus" && nested.body.message == "unknown field 'away.bogus'")
        let deep = try #require(refusal(TicketPrintRequest.self, #"{"ticket":{"number":"A001","colour":"red"}}"#))
        #expect(deep.body.field == "ticket.colour")
        let typo = try #require(refusal(AppointmentRequest.self, #"{"servce":"A","slot":"09:30"}"#))
        #expect(typo.body.field == "service" && typo.body.message == "field 'service' is required (the body has servce, slot)", "\(typo.body)")
        let wrongType = try #require(refusal(IssueRequest.self, #"{"service":"A","print":"yes"}"#))
        #expect(wrongType.body.field == "print" && wrongType.status == .badRequest)
        let null = try #require(refusal(IssueRequest.self, #"{"service":"A","priority":null}"#))
        #expect(null.body.field == "priority")
    }

    @Test("an empty body is the request's default where a route allows one, and refused elsewhere; known fields pass")
    func emptyBodies() throws {
        #expect(try StrictJSON.decode(HealthCheckRequest.self, from: Data()) == HealthCheckRequest(level: .internal))
        #expect(try StrictJSON.decode(ScanJobRequest.self, from: Data(" \n".utf8)) == ScanJobRequest())
        #expect(refusal(IssueRequest.self, "")?.body.message == "request body is empty; expected a JSON object")
        let ok = try StrictJSON.decode(IssueRequest.self, from: Data(#"{"service":"A","priority":"green","print":true}"#.utf8))
        #expect(ok == IssueRequest(service: "A", priority: .green, print: true))
    }

    @Test("a ticket request read straight from its fields is what JSONDecoder reads; any other body goes the general way and is refused as before")
    func plainIssueRequests() throws {
        for body in [
            #"{"service":"A"}"#, #"{}"#, #"{"appointment":"K7Q2","print":false}"#, #"{"service":"B","priority":"green","appointment":"X","print":true}"#,
            #"{"priority":"normal","service":"社会保障"}"#,
        ] {
            guard case .object(let object) = try JSONValue.parse(Data(body.utf8)) else { Issue.record("\(body) is not an object"); continue }
            let plain = try #require(IssueRequest(plain: object), "\(body)")
            #expect(plain == (try JSONDecoder().decode(IssueRequest.self, from: Data(body.utf8))), "\(body)")
            #expect(try StrictJSON.decode(IssueRequest.self, from: Data(body.utf8)) == plain)
        }
        for body in [#"{"service":"A","colour":"red"}"#, #"{"service":1}"#, #"{"priority":"gold"}"#, #"{"print":"yes"}"#, #"{"service":["A"]}"#] {
            guard case .object(let object) = try JSONValue.parse(Data(body.utf8)) else { Issue.record("\(body) is not an object"); continue }
            #expect(IssueRequest(plain: object) == nil, "\(body) is not read the short way")
        }
        #expect(refusal(IssueRequest.self, #"{"priority":"gold"}"#)?.body.field == "priority")
        #expect(refusal(IssueRequest.self, #"{"service":1}"#)?.body.field == "service")
    }
}
