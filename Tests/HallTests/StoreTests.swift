import DeviceKit
import Foundation
import Hall
import HallModel
import SQLiteStore
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
        #expect(try await db.appliedMigrations() == ["v1-device-counters", "v1-event-log", "v2-print-jobs", "v3-hall", "v4-followed-hall", "v5-roster", "v6-ledger", "v7-follow-ups", "v8-referrals", "v9-citizens"])
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
