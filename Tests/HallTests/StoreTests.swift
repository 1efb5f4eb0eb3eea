import DeviceKit
import Foundation
import Hall
import HallModel
import GRDB
import Synchronization
@testable import SQLiteStore
import Testing

@Suite("HallStore", .timeLimit(.minutes(3)))
struct StoreTests {
    @Test("a ticket and its ticket.issued event are written in one transaction: both stored and delivered, or neither")
    func ticketWithEvent() async throws {
        let db = try HallDatabase.inMemory()
        let log = EventLog(store: db)
        let subscription = log.subscribe(types: ["ticket"])
        let new = NewTicket(id: "t1", day: "2027-01-15", service: "A", priority: .normal, appointment: nil, at: Date(), dailyCap: nil)
        let issued = try #require(try await log.issue(new, in: db) { t in NewEvent(type: "ticket.issued", data: ["number": .string(t.number)]) })
        #expect(issued.number == "A001")
        let stored = try await db.events(after: 0, limit: 10, types: nil)
        #expect(stored.map(\.type) == ["ticket.issued"] && stored.first?.data["number"] == .string("A001"), "\(stored)")
        var delivered = subscription.events.makeAsyncIterator()
        #expect(await delivered.next()?.seq == stored.first?.seq, "handed to subscribers with its sequence")
        // An event that cannot be made: the ticket is not stored either.
        struct Unencodable: Error {}
        let second = NewTicket(id: "t2", day: "2027-01-15", service: "A", priority: .normal, appointment: nil, at: Date(), dailyCap: nil)
        await #expect(throws: Unencodable.self) { _ = try await log.issue(second, in: db) { _ in throw Unencodable() } }
        #expect(try await db.tickets(day: "2027-01-15").map(\.id) == ["t1"])
        #expect(try await db.lastEventSequence() == stored.first?.seq)
        // A log over another store does not combine (the caller issues, then publishes).
        #expect(try await log.issue(second, in: try HallDatabase.inMemory()) { _ in NewEvent(type: "x", data: .null) } == nil)
    }

    @Test("a subscription made after every stream was ended (halld stopping) ends at once, so its connection cannot keep the server open")
    func subscribeAfterClose() async throws {
        let log = EventLog(store: try HallDatabase.inMemory())
        let before = log.subscribe()
        log.closeAllSubscriptions()
        let after = log.subscribe()
        var a = before.events.makeAsyncIterator(), b = after.events.makeAsyncIterator()
        let (endedBefore, endedAfter) = (await a.next() == nil, await b.next() == nil)
        #expect(endedBefore && endedAfter)
        #expect(log.subscriberCount == 0)
    }

    @Test("migrations are named and applied once; the database is sound")
    func migrations() async throws {
        let db = try HallDatabase.inMemory()
        #expect(try await db.appliedMigrations() == ["v1-device-counters", "v1-event-log", "v2-print-jobs", "v3-hall", "v4-followed-hall", "v5-roster", "v6-ledger", "v7-follow-ups", "v8-referrals", "v9-citizens", "v10-lean-issue", "v11-event-floor", "v12-event-reservation"].sorted())
        #expect(try await db.integrityCheck() == "ok")
    }

    @Test("sequence numbers grow by one and go on after reopening and trimming")
    func sequence() async throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var db = try HallDatabase.open(directory: dir)
        var log = EventLog(store: db)
        for i in 1...3 {
            let e = try await log.publish(NewEvent(type: "test.event", data: ["i": .number(Double(i))]))
            #expect(e.seq == Int64(i))
        }
        try db.close()
        db = try HallDatabase.open(directory: dir)
        log = EventLog(store: db)
        #expect(try await log.lastSequence() == 3)
        #expect(try await log.trim(olderThan: .seconds(0), now: Date().addingTimeInterval(10)) == 3)
        let next = try await log.publish(NewEvent(type: "test.event"))
        #expect(next.seq == 4, "a trimmed sequence number is never given again")
        let stored = try await log.events(after: 0)
        #expect(stored.map(\.seq) == [4])
        let mode = try await db.writer.read { try String.fetchOne($0, sql: "PRAGMA journal_mode") }
        #expect(mode == "wal")
        try db.close()
    }

    @Test("a database of the schema before v10 opens with its tickets, ratings and events; an issue then writes three pages, trims walk the log")
    func leanIssueMigration() async throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/halld.sqlite"
        // The database as the release before v10 left it, with a day of the hall in it.
        let old = try DatabaseQueue(path: path)
        try HallDatabase.migrator.migrate(old, upTo: "v9-citizens")
        try await old.write { db in
            for seq in 1...3 {
                try db.execute(
                    sql: """
                        INSERT INTO ticket (id, day, service, seq, number, priority, state, issued_at, queued_at, issue_service, staff_id, overdue)
                        VALUES (?, '2027-01-15', 'A', ?, ?, 'normal', ?, ?, ?, 'A', ?, ?)
                        """,
                    arguments: ["t\(seq)", seq, "A00\(seq)", seq == 1 ? "done" : "waiting", 1_800_000_000 + Double(seq), 1_800_000_000 + Double(seq), seq == 1 ? "S01" : nil, seq == 1 ? #"["p1"]"# : nil])
            }
            try db.execute(sql: "INSERT INTO rating (ticket, number, service, window, level, time, channel) VALUES ('t1', 'A001', 'A', 1, 'satisfied', 1800000100, 'keypad')")
            for (i, time) in ["2027-01-13T08:00:00.000Z", "2027-01-15T08:00:00.000Z", "2027-01-13T09:00:00.000Z", "2027-01-15T09:00:00.000Z"].enumerated() {
                try db.execute(sql: "INSERT INTO event (type, time, data) VALUES ('test.event', ?, ?)", arguments: [time, "{\"i\":\(i)}"])
            }
        }
        try old.close()

        let db = try HallDatabase.open(directory: dir)
        #expect(try await db.appliedMigrations().contains("v11-event-floor"))
        #expect(try await db.integrityCheck() == "ok")
        let fkProblems = try await db.writer.read { try Row.fetchAll($0, sql: "PRAGMA foreign_key_check") }
        #expect(fkProblems.isEmpty, "\(fkProblems)")
        let tickets = try await db.tickets(day: "2027-01-15")
        #expect(tickets.map(\.number) == ["A001", "A002", "A003"] && tickets[0].staffId == "S01" && tickets[0].overdue == ["p1"] && tickets[0].state == .done, "\(tickets)")
        #expect(try await db.ratings(day: "2027-01-15").map(\.ticket) == ["t1"])
        let schema = try await db.writer.read { try String.fetchAll($0, sql: "SELECT name FROM sqlite_master WHERE tbl_name IN ('ticket', 'event') ORDER BY name") }
        #expect(!schema.contains("ticket_day_state") && !schema.contains("event_time") && !schema.contains("ticket_lean") && !schema.contains("event_plain"), "\(schema)")
        let sql = try await db.writer.read { try String.fetchOne($0, sql: "SELECT sql FROM sqlite_master WHERE name = 'ticket'") } ?? ""
        #expect(sql.contains("WITHOUT ROWID"), "\(sql)")
        // The day's queries still find their rows by an index, not by reading the table.
        for query in ["SELECT MAX(seq) FROM ticket WHERE day = '2027-01-15' AND issue_service = 'A'", "SELECT * FROM ticket WHERE day = '2027-01-15'"] {
            let plan = try await db.writer.read { try Row.fetchAll($0, sql: "EXPLAIN QUERY PLAN " + query).map { $0["detail"] as String } }
            #expect(plan.allSatisfy { !$0.hasPrefix("SCAN") }, "\(query): \(plan)")
        }

        // The next number of the day goes on; the issue and its event are one commit of three
        // pages in the WAL (seven before v10: the rowid tree, the (day, state) and time
        // indexes; four before v11: the event's row in sqlite_sequence).
        let log = EventLog(store: db)
        let walBefore = (try? FileManager.default.attributesOfItem(atPath: path + "-wal")[.size] as? Int) ?? 0
        let next = NewTicket(id: "t4", day: "2027-01-15", service: "A", priority: .normal, appointment: nil, at: Date(), dailyCap: nil)
        let issued = try #require(try await log.issue(next, in: db) { t in NewEvent(type: "ticket.issued", data: ["number": .string(t.number)]) })
        #expect(issued.number == "A004")
        let walAfter = (try? FileManager.default.attributesOfItem(atPath: path + "-wal")[.size] as? Int) ?? 0
        let pages = (walAfter - walBefore) / (4096 + 24)
        #expect(pages > 0 && pages <= 3, "WAL frames written by one issue: \(pages)")

        // Trimming walks from the oldest event: the one stamped on the 13th after one of the
        // 15th (the clock set back) is kept until the events before it go.
        #expect(try await log.trim(olderThan: .zero, now: Timestamp.date("2027-01-14T12:00:00.000Z")!) == 1)
        #expect(try await log.events(after: 0, limit: 10).map(\.seq) == [2, 3, 4, 5])
        #expect(try await log.lastSequence() == 5)
        try db.close()
    }

    @Test("a log that trimming had emptied under AUTOINCREMENT (before v11) goes on after its last number; a trim that empties it now keeps that number too")
    func eventFloorMigration() async throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let old = try DatabaseQueue(path: dir + "/halld.sqlite")
        try HallDatabase.migrator.migrate(old, upTo: "v10-lean-issue")
        try await old.write { db in
            for i in 1...3 { try db.execute(sql: "INSERT INTO event (type, time, data) VALUES ('test.event', '2027-01-13T08:00:00.000Z', ?)", arguments: ["{\"i\":\(i)}"]) }
            try db.execute(sql: "DELETE FROM event")
        }
        try old.close()

        let db = try HallDatabase.open(directory: dir)
        let log = EventLog(store: db)
        #expect(try await log.lastSequence() == 3)
        #expect(try await log.firstAvailable() == 4)
        #expect(try await log.publish(NewEvent(type: "test.event")).seq == 4)
        #expect(try await log.publish(NewEvent(type: "test.event")).seq == 5)
        #expect(try await log.trim(olderThan: .zero, now: Date().addingTimeInterval(10)) == 2)
        #expect(try await log.lastSequence() == 5)
        #expect(try await log.firstAvailable() == 6)
        try db.close()
        let reopened = try HallDatabase.open(directory: dir)
        #expect(try await EventLog(store: reopened).publish(NewEvent(type: "test.event")).seq == 6, "after reopening, the number goes on")
        let sql = try await reopened.writer.read { try String.fetchOne($0, sql: "SELECT sql FROM sqlite_master WHERE name = 'event'") } ?? ""
        #expect(!sql.contains("AUTOINCREMENT"), "\(sql)")
        try reopened.close()
    }

    @Test("on disk, the connection that writes syncs every commit (synchronous=FULL, not the NORMAL GRDB's pool sets with WAL), after reopening too")
    func durableCommits() async throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for _ in 0..<2 {
            let db = try HallDatabase.open(directory: dir)
            #expect(try await db.synchronousLevel() == 2, "PRAGMA synchronous on the writer: 2 is FULL, 1 NORMAL")
            #expect(try await db.writer.read { try String.fetchOne($0, sql: "PRAGMA journal_mode") } == "wal")
            try db.close()
        }
    }

    @Test("a device's status is committed without a sync once its number is reserved by a synced commit; every other event, ticket and reservation is synced")
    func observationsUnsynced() async throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let db = try HallDatabase.open(directory: dir)
        let log = EventLog(store: db)
        // What the writing connection runs, as SQLite runs it.
        let ran = Mutex<[String]>([])
        try await db.writer.writeWithoutTransaction { db in
            db.trace { event in
                let sql = "\(event)"
                if sql.hasPrefix("PRAGMA synchronous") || sql.hasPrefix("COMMIT") || sql.hasPrefix("UPDATE event_reservation") { ran.withLock { $0.append(sql) } }
            }
        }
        func steps(_ body: () async throws -> Void) async throws -> [String] {
            ran.withLock { $0 = [] }
            try await body()
            return ran.withLock { $0 }
        }
        let first = try await steps { try await log.publish(NewEvent(type: EventType.deviceStatus, device: DeviceID("display-1"), data: ["state": "online"])) }
        #expect(first == ["UPDATE event_reservation SET seq = ?", "COMMIT TRANSACTION"], "the first reserves 1024 numbers, synced: \(first)")
        #expect(try await db.writer.read { try Int64.fetchOne($0, sql: "SELECT seq FROM event_reservation") } == 1025)
        let second = try await steps { try await log.publish(NewEvent(type: EventType.deviceStatus, device: DeviceID("display-1"), data: ["state": "busy"])) }
        #expect(second == ["PRAGMA synchronous = NORMAL", "COMMIT TRANSACTION", "PRAGMA synchronous = FULL"], "\(second)")
        let other = try await steps { try await log.publish(NewEvent(type: "window.status", data: ["window": 1])) }
        #expect(other == ["COMMIT TRANSACTION"], "\(other)")
        let new = NewTicket(id: "t1", day: "2027-01-15", service: "A", priority: .normal, appointment: nil, at: Date(), dailyCap: nil)
        let issue = try await steps { _ = try await log.issue(new, in: db) { t in NewEvent(type: "ticket.issued", data: ["number": .string(t.number)]) } }
        #expect(issue == ["COMMIT TRANSACTION"], "\(issue)")
        #expect(try await db.synchronousLevel() == 2, "FULL again after the device's commit")
        #expect(try await log.events(after: 0, limit: 10).map(\.seq) == [1, 2, 3, 4])
        try db.close()
    }

    @Test("after a power cut (another boot), numbers that device events lost with it may have had are never given again; after halld alone was killed, or closed, the numbers go on")
    func reservationAfterRestart() async throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        func copy(_ name: String) throws -> String {
            let to = dir + "/" + name
            try FileManager.default.createDirectory(atPath: to, withIntermediateDirectories: true)
            for file in ["halld.sqlite", "halld.sqlite-wal"] where FileManager.default.fileExists(atPath: dir + "/live/" + file) {
                try FileManager.default.copyItem(atPath: dir + "/live/" + file, toPath: to + "/" + file)
            }
            return to
        }
        let status = NewEvent(type: EventType.deviceStatus, device: DeviceID("keypad-1"), data: ["state": "online"])
        let db = try HallDatabase.open(directory: dir + "/live", bootID: "boot-1")
        let log = EventLog(store: db)
        #expect(try await log.publish(status).seq == 1)
        // The disk as the synced commit left it: the next two are only in the WAL's unsynced end.
        let synced = try copy("synced")
        #expect(try await log.publish(status).seq == 2)
        #expect(try await log.publish(status).seq == 3)
        let written = try copy("written")

        // The power went: what reached the disk, opened on the next boot.
        let afterPowerCut = try HallDatabase.open(directory: synced, bootID: "boot-2")
        #expect(afterPowerCut.eventNumbersSkipped == 2...1025, "\(String(describing: afterPowerCut.eventNumbersSkipped))")
        #expect(try await afterPowerCut.lastEventSequence() == 1025)
        #expect(try await EventLog(store: afterPowerCut).publish(NewEvent(type: "window.status")).seq == 1026, "2 and 3 went to subscribers: never again")
        try afterPowerCut.close()

        // halld was killed: its writes stayed with the kernel, and the boot is the same.
        let afterKill = try HallDatabase.open(directory: written, bootID: "boot-1")
        #expect(afterKill.eventNumbersSkipped == nil)
        #expect(try await EventLog(store: afterKill).publish(status).seq == 4, "no gap")
        try afterKill.close()

        // Closed: nothing stays reserved, even when the machine restarts after.
        try db.close()
        let reopened = try HallDatabase.open(directory: dir + "/live", bootID: "boot-3")
        #expect(reopened.eventNumbersSkipped == nil)
        #expect(try await EventLog(store: reopened).publish(status).seq == 4)
        try reopened.close()
    }

    @Test("live subscribers get events in order, filtered by type or family")
    func subscribe() async throws {
        let log = EventLog(store: try HallDatabase.inMemory())
        let all = log.subscribe()
        let keypad = log.subscribe(types: ["keypad"])
        try await log.publish(NewEvent(type: "device.status"))
        try await log.publish(NewEvent(type: "keypad.rating", data: ["level": "satisfied"]))
        try await log.publish(NewEvent(type: "keypad.key"))
        all.cancel()
        keypad.cancel()
        var seen: [String] = []
        for await e in all.events { seen.append(e.type) }
        #expect(seen == ["device.status", "keypad.rating", "keypad.key"])
        var keys: [Int64] = []
        for await e in keypad.events { keys.append(e.seq) }
        #expect(keys == [2, 3])
        #expect(log.subscriberCount == 0)
    }

    @Test("a subscriber that does not read is cut off as lagged; others go on")
    func lagged() async throws {
        let log = EventLog(store: try HallDatabase.inMemory())
        let slow = log.subscribe(capacity: 16)
        let fast = log.subscribe(capacity: 1000)
        for _ in 1...40 { try await log.publish(NewEvent(type: "test.event")) }
        #expect(slow.isLagged)
        var slowSeen = 0
        for await _ in slow.events { slowSeen += 1 }
        #expect(slowSeen == 16, "the slow subscriber keeps only its buffer")
        #expect(!fast.isLagged)
        #expect(log.subscriberCount == 1)
        fast.cancel()
        var fastSeen = 0
        for await _ in fast.events { fastSeen += 1 }
        #expect(fastSeen == 40)
    }

    @Test("subscribers on delivery queues: one hop per queue and event, the event encoded once per queue for all its writers, filtered per subscriber; a refusing writer's events go to its stream; a lagged one leaves its queue")
    func deliveryQueues() async throws {
        let log = EventLog(store: try HallDatabase.inMemory())
        let (q1, q2) = (InlineQueue(), InlineQueue())
        let (all1, keypad1, all2) = (EncodingWriter(q1), EncodingWriter(q1), EncodingWriter(q2))
        let subscriptions = [
            log.subscribe(direct: all1), log.subscribe(types: ["keypad"], direct: keypad1), log.subscribe(direct: all2),
        ]
        let refusing = log.subscribe(direct: EncodingWriter(q1, accepts: false))
        let plain = log.subscribe()
        let slow = log.subscribe(capacity: 1, direct: EncodingWriter(q2, accepts: false))
        #expect(log.subscriberCount == 6)
        try await log.publish(NewEvent(type: "device.status"))
        try await log.publish(NewEvent(type: "keypad.rating", data: ["level": "satisfied"]))
        #expect(q1.hops.load(ordering: .acquiring) == 2 && q2.hops.load(ordering: .acquiring) == 2, "one hop per queue and event")
        #expect(all1.written.map(\.seq) == [1, 2] && keypad1.written.map(\.seq) == [2] && all2.written.map(\.seq) == [1, 2])
        #expect(all1.made.load(ordering: .acquiring) + keypad1.made.load(ordering: .acquiring) == 2, "q1 encoded each event once")
        #expect(all1.written[1].encoding === keypad1.written[0].encoding, "the keypad writer wrote what the first writer made")
        #expect(all1.written[1].encoding !== all2.written[1].encoding, "each queue makes its own")
        #expect(slow.isLagged && log.subscriberCount == 5, "the lagged subscriber left its queue")
        for s in subscriptions + [refusing, plain] { s.cancel() }
        var streamed: [Int64] = []
        for await e in refusing.events { streamed.append(e.seq) }
        var plainSeen: [Int64] = []
        for await e in plain.events { plainSeen.append(e.seq) }
        #expect(streamed == [1, 2] && plainSeen == [1, 2])
        #expect(log.subscriberCount == 0)
    }

    /// A delivery queue that runs what it is given at once, counting the hops.
    final class InlineQueue: EventDeliveryQueue {
        let hops = Atomic<Int>(0)
        func deliver(_ work: @escaping @Sendable () -> Void) {
            hops.add(1, ordering: .releasing)
            work()
        }
    }

    /// A direct writer that records each event it writes with the encoding it wrote,
    /// making one (`made`) only when no writer on its queue made it yet.
    final class EncodingWriter: EventDirectWriter {
        final class Encoding: Sendable {}
        let queue: any EventDeliveryQueue
        let accepts: Bool
        let made = Atomic<Int>(0)
        private let log = Mutex<[(seq: Int64, encoding: Encoding)]>([])
        var written: [(seq: Int64, encoding: Encoding)] { log.withLock { $0 } }

        init(_ queue: InlineQueue, accepts: Bool = true) {
            self.queue = queue
            self.accepts = accepts
        }

        func write(_ delivery: EventDelivery) -> Bool {
            guard accepts else { return false }
            if delivery.encoding == nil {
                made.add(1, ordering: .releasing)
                delivery.encoding = Encoding()
            }
            let encoding = delivery.encoding as! Encoding
            log.withLock { $0.append((delivery.event.seq, encoding)) }
            return true
        }
    }

    @Test("device counters add up and persist")
    func counters() async throws {
        let db = try HallDatabase.inMemory()
        let id = DeviceID("printer-1")!
        try await db.addCounter(id, .pagesPrinted, 3)
        try await db.addCounter(id, .pagesPrinted, 2)
        try await db.addCounter(id, .resets, 1)
        let loaded = try await db.loadCounters()
        #expect(loaded[id]?[.pagesPrinted] == 5)
        #expect(loaded[id]?[.resets] == 1)
    }
}
