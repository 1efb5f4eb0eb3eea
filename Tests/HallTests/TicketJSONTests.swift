import DeviceKit
import Foundation
@testable import HallAPI
import HallAPIModels
import HallClient
import HallModel
import Testing

/// The ticket list and ticket answers are written by `TicketJSON`, not by
/// Foundation's encoder: their bytes must be the encoder's, for every field present
/// or absent, every character a string may hold and every time.
@Suite("ticket JSON written directly", .timeLimit(.minutes(1)))
struct TicketJSONTests {
    // Compared as text (every byte of it) so that a difference reads as JSON.
    func encoded(_ value: some Encodable) throws -> String { String(decoding: try jsonEncoder.encode(value), as: UTF8.self) }
    func direct(_ ticket: Ticket) -> String { String(decoding: TicketJSON.encode(ticket).readableBytesView, as: UTF8.self) }
    func direct(_ tickets: [Ticket]) -> String { String(decoding: TicketJSON.encode(tickets).readableBytesView, as: UTF8.self) }

    /// A ticket with every optional field set, and then each one left out in turn.
    func variants() -> [Ticket] {
        let t0 = Date(timeIntervalSince1970: 1_800_000_000.75)
        let full = Ticket(
            id: "2027-01-15-A001", number: "A001", service: "A", day: "2027-01-15", priority: .green, appointment: "12345678", slot: t0 + 1800,
            state: .serving, issuedAt: t0, queuedAt: t0 + 5.5, calledAt: t0 + 60.999, finishedAt: t0 + 900, window: 12, clerk: "王芳 \"小王\"",
            recalls: 2, transferredFrom: "B", printJob: "ticket-7", printError: "printer out of paper\nlid open", waitingAhead: 0,
            staffId: "S/001\\x", overdue: ["waiting", "service"])
        var list = [full]
        let clears: [(inout Ticket) -> Void] = [
            { $0.appointment = nil }, { $0.slot = nil }, { $0.calledAt = nil }, { $0.finishedAt = nil }, { $0.window = nil }, { $0.clerk = nil },
            { $0.transferredFrom = nil }, { $0.printJob = nil }, { $0.printError = nil }, { $0.waitingAhead = nil }, { $0.staffId = nil },
            { $0.overdue = nil }, { $0.overdue = [] },
        ]
        for clear in clears {
            var t = full
            clear(&t)
            list.append(t)
        }
        var bare = Ticket(id: "x", number: "B002", service: "B", day: "2027-01-15", priority: .normal, state: .waiting, issuedAt: t0, queuedAt: t0, recalls: 0)
        list.append(bare)
        for state in TicketState.allCases {
            bare.state = state
            list.append(bare)
        }
        return list
    }

    @Test("every field present and absent: the same bytes as the encoder, one ticket and a list")
    func fields() throws {
        let list = variants()
        for t in list {
            #expect(direct(t) == (try encoded(t)))
        }
        #expect(direct(list) == (try encoded(list)))
        #expect(direct([Ticket]()) == (try encoded([Ticket]())))
    }

    @Test("strings: every ASCII character, control characters, quotes, slashes, Chinese and emoji as the encoder writes them")
    func strings() throws {
        var texts = (0..<128).map { String(UnicodeScalar(UInt8($0))) }
        texts += ["", "社会保障", "a\"b\\c/d", "\u{7F}\u{80}\u{2028}\u{2029}", "🙂 排队", "\r\n\t\u{08}\u{0C}\u{00}", String(repeating: "长", count: 300)]
        let t0 = Date(timeIntervalSince1970: 1_800_000_000)
        let tickets = texts.map { s in
            Ticket(id: s, number: s, service: s, day: s, priority: .normal, appointment: s, state: .waiting, issuedAt: t0, queuedAt: t0, clerk: s, recalls: 0, staffId: s, overdue: [s, s])
        }
        for t in tickets {
            #expect(direct(t) == (try encoded(t)), "bytes of the string: \(Array(t.id.utf8))")
        }
    }

    @Test("times: whole seconds in UTC across years, leap days, midnight and fractions, as the encoder writes them")
    func times() throws {
        var instants: [Double] = [0, 0.5, 59.999, 86_399.999, 86_400, 951_782_400, 951_868_799.9, 1_709_164_800, 4_107_542_399, 4_102_444_800]
        var seed: UInt64 = 0x9E37_79B9_7F4A_7C15
        for _ in 0..<2000 {
            seed = seed &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            instants.append(Double(seed >> 33) / 2.0 + Double(seed & 0xFFFF) / 65_536)
        }
        for x in instants {
            let d = Date(timeIntervalSince1970: x)
            let t = Ticket(id: "t", number: "A001", service: "A", day: "d", priority: .normal, state: .done, issuedAt: d, queuedAt: d, calledAt: d, finishedAt: d, recalls: 0)
            let (a, b) = (direct(t), try encoded(t))
            #expect(a == b, "seconds since 1970: \(x)")
            if a != b { break }
        }
    }

    @Test("a list written from the pieces of lists before it: the changed, new and removed tickets are as the encoder writes the new list, and unused pieces go")
    func reusedPieces() throws {
        let first = variants()
        var pieces: [String: TicketJSON.Piece] = [:]
        _ = TicketJSON.encode(first, reusing: &pieces, stamp: 1)
        var second = Array(first.dropFirst(2))
        second[0].state = .done
        second[3].waitingAhead = 41
        second.append(Ticket(id: "new", number: "A099", service: "A", day: "2027-01-15", priority: .normal, state: .waiting, issuedAt: .now, queuedAt: .now, recalls: 0))
        let body = TicketJSON.encode(second, reusing: &pieces, stamp: 2)
        #expect(String(decoding: body.readableBytesView, as: UTF8.self) == (try encoded(second)))
        #expect(pieces["new"]?.ticket == second.last && pieces["new"]?.used == 2)
        // A hundred tickets, then one of them alone eight lists later: the other
        // ninety-nine pieces go (they outnumber the list), and the list is still right.
        let hundred = (0..<100).map { n in
            Ticket(id: "t\(n)", number: "A\(n)", service: "A", day: "2027-01-15", priority: .normal, state: .waiting, issuedAt: .now, queuedAt: .now, recalls: 0)
        }
        var many: [String: TicketJSON.Piece] = [:]
        _ = TicketJSON.encode(hundred, reusing: &many, stamp: 1)
        #expect(many.count == 100)
        let one = TicketJSON.encode([hundred[7]], reusing: &many, stamp: 9)
        #expect(String(decoding: one.readableBytesView, as: UTF8.self) == (try encoded([hundred[7]])))
        #expect(Set(many.keys) == ["t7"])
    }

    @Test("a ticket as an event's data, built directly, is what JSONValue(encoding:) makes of it")
    func eventData() throws {
        for t in variants() {
            #expect(t.jsonValue == (try JSONValue(encoding: t)), "\(t)")
        }
    }
}

/// `GET /v1/tickets` answers from a list kept encoded until the hall builds a new one:
/// it must never answer an old list after a change, whoever asks at once.
@Suite("the ticket list kept encoded", .timeLimit(.minutes(2)))
struct TicketListAnswerTests {
    @Test("every issue and call is in the next list asked for, places counted; lists asked for at once are one list; each state keeps its own")
    func listsFollowChanges() async throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let config = try simulatedConfig(dir: dir)
        try await withDaemon(config) { socket in
            let client = HallClient(socketPath: socket)
            var ids: [String] = []
            for i in 0..<6 {
                let t: Ticket = try await client.call("POST", "/v1/tickets", json: IssueRequest(service: "A"))
                ids.append(t.id)
                let waiting: [Ticket] = try await client.call("GET", "/v1/tickets?state=waiting")
                #expect(waiting.map(\.id) == ids, "after issue \(i + 1)")
                #expect(waiting.map(\.waitingAhead) == (0...i).map { Optional($0) })
            }
            let all: [Ticket] = try await client.call("GET", "/v1/tickets")
            #expect(all.map(\.id) == ids)
            // Eight at once: one list, byte for byte.
            let bodies = try await withThrowingTaskGroup(of: Data.self) { group in
                for _ in 0..<8 { group.addTask { try await client.send("GET", "/v1/tickets?state=waiting").body } }
                return try await group.reduce(into: [Data]()) { $0.append($1) }
            }
            #expect(Set(bodies).count == 1)
            // A call takes the first from the waiting list into the called one, at once.
            _ = try await client.send("PUT", "/v1/windows/1/status", body: Data(#"{"state":"open"}"#.utf8), contentType: "application/json")
            let called: Ticket = try await client.call("POST", "/v1/windows/1/call-next")
            #expect(called.id == ids[0])
            let waiting: [Ticket] = try await client.call("GET", "/v1/tickets?state=waiting")
            #expect(waiting.map(\.id) == Array(ids.dropFirst()))
            #expect(waiting.map(\.waitingAhead) == (0..<5).map { Optional($0) })
            let calledList: [Ticket] = try await client.call("GET", "/v1/tickets?state=called")
            #expect(calledList.map(\.id) == [ids[0]])
            #expect(try await client.call("GET", "/v1/tickets?state=done", as: [Ticket].self).isEmpty)
        }
    }
}
