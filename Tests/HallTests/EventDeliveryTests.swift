import DeviceKit
import Foundation
import HallAPIModels
import HallClient
import HallModel
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Live events over HTTP as a slow client sees them: written straight to the
/// connection while it takes more, into the subscriber's stream while it does not
/// (`SSEDirectWriter`), and the lag rule when the stream is full.
@Suite(.timeLimit(.minutes(3)))
struct EventDeliveryTests {
    /// More than a Unix socket's send buffer (208 KiB here) and NIO's 64 KiB high water
    /// mark hold: ticket.issued events are about 400 bytes each.
    static let tickets = 1_500

    @Test("a subscriber that reads in bursts while 3 000 events come from eight kiosks gets each once and in order, through both ways of writing")
    func burstReader() async throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var config = try simulatedConfig(dir: dir)
        config.subscriberBuffer = 10_000
        try await withDaemon(config) { socket in
            let bursts = try RawEventStream(socket: socket, path: "/v1/events?types=ticket.issued")
            defer { bursts.close() }
            try await bursts.waitForHead()
            // Between bursts the connection fills (1.2 MB of events come, its buffers hold
            // about 270 KB) and stops taking more: the events go into the stream. After a
            // burst it takes more again while the stream still holds events, which a
            // direct write must not overtake.
            let reader = Task {
                while !Task.isCancelled {
                    try? await Task.sleep(for: .seconds(1))
                    bursts.read()
                }
            }
            defer { reader.cancel() }
            let count = 2 * Self.tickets
            try await withThrowingTaskGroup(of: Void.self) { kiosks in
                for _ in 0..<8 {
                    kiosks.addTask {
                        let client = HallClient(socketPath: socket)
                        for _ in 0..<(count / 8) { let _: Ticket = try await client.call("POST", "/v1/tickets", json: IssueRequest(service: "A")) }
                    }
                }
                try await kiosks.waitForAll()
            }
            try await eventually("\(count) ticket.issued events read", within: .seconds(90), seen: { bursts.summary }) {
                bursts.read()
                return bursts.events.count >= count
            }
            // Numbered in the transaction that stores the event: event order is number order.
            let numbers = (1...count).map { Ticket.number(prefix: "A", seq: $0) }
            let events = bursts.events
            #expect(events.map(\.type).allSatisfy { $0 == "ticket.issued" })
            #expect(zip(events, events.dropFirst()).allSatisfy { $0.seq < $1.seq }, "sequence numbers in order, none twice")
            #expect(firstDifference(events.map(\.number), numbers) == nil, "every ticket once, in the order numbered")
        }
    }

    @Test("a subscriber that never reads is cut off as lagged after a gap-free run of events, naming where to resume; a reading one gets every event")
    func laggedReader() async throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var config = try simulatedConfig(dir: dir)
        config.subscriberBuffer = 100
        try await withDaemon(config) { socket in
            let client = HallClient(socketPath: socket)
            let stalled = try RawEventStream(socket: socket, path: "/v1/events?types=ticket.issued")
            let reading = try RawEventStream(socket: socket, path: "/v1/events?types=ticket.issued")
            defer {
                stalled.close()
                reading.close()
            }
            try await stalled.waitForHead()
            try await reading.waitForHead()
            var issued: [String] = []
            for _ in 0..<Self.tickets {
                let t: Ticket = try await client.call("POST", "/v1/tickets", json: IssueRequest(service: "A"))
                issued.append(t.number)
                reading.read()
            }
            try await eventually("the reading subscriber has every event", within: .seconds(60), seen: { reading.summary }) {
                reading.read()
                return reading.events.count >= Self.tickets
            }
            #expect(firstDifference(reading.events.map(\.number), issued) == nil, "the stalled subscriber held nobody back")
            #expect(reading.lagged == nil)
            try await eventually("the stalled subscriber's lagged event", within: .seconds(60), seen: { stalled.summary }) {
                stalled.read()
                return stalled.lagged != nil
            }
            let events = stalled.events
            #expect(events.count > 0 && events.count < Self.tickets, "cut off before the end: \(events.count)")
            #expect(firstDifference(events.map(\.number), Array(issued.prefix(events.count))) == nil, "a run without a gap from the first")
            #expect(stalled.lagged == events.last?.seq, "resume from the last event read")
        }
    }
}

/// Where two lists first differ, in a few words (not two lists of 3 000); nil when
/// they are the same.
func firstDifference(_ got: [String], _ expected: [String]) -> String? {
    if let i = zip(got, expected).enumerated().first(where: { $0.element.0 != $0.element.1 })?.offset {
        return "at \(i): read \(got[i]), expected \(expected[i])"
    }
    return got.count == expected.count ? nil : "\(got.count) read, \(expected.count) expected"
}

/// An event-stream connection whose reading the test controls (HallClient reads all it
/// can): a non-blocking socket, read only when asked, the body de-chunked and split
/// into events.
final class RawEventStream: Sendable {
    struct Event: Sendable {
        var seq: Int64
        var type: String
        var number: String
    }

    private let fd: Int32
    private let state = Mutex<(bytes: [UInt8], events: [Event], lagged: Int64?, head: Bool)>(([], [], nil, false))

    init(socket: String, path: String) throws {
        fd = Glibc.socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw HallClientError("socket: errno \(errno)") }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, byte) in socket.utf8.prefix(raw.count - 1).enumerated() { raw[i] = byte }
        }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard connected == 0 else {
            Glibc.close(fd)
            throw HallClientError("connect \(socket): errno \(errno)")
        }
        let request = Array("GET \(path) HTTP/1.1\r\nHost: x\r\n\r\n".utf8)
        guard send(fd, request, request.count, Int32(MSG_NOSIGNAL)) == request.count else { throw HallClientError("send: errno \(errno)") }
    }

    func close() { Glibc.close(fd) }

    /// Reads what has arrived, never waiting.
    func read() {
        var chunk = [UInt8](repeating: 0, count: 65_536)
        while true {
            let n = recv(fd, &chunk, chunk.count, Int32(MSG_DONTWAIT))
            guard n > 0 else { return }
            state.withLock { s in
                s.bytes += chunk[0..<n]
                Self.parse(&s)
            }
        }
    }

    func waitForHead() async throws {
        try await eventually("the event stream's head", within: .seconds(10), seen: { self.summary }) {
            self.read()
            return self.state.withLock { $0.head }
        }
    }

    var events: [Event] { state.withLock { $0.events } }
    /// The `resumeFrom` of a `lagged` event, once one came.
    var lagged: Int64? { state.withLock { $0.lagged } }
    var summary: String {
        state.withLock { "\($0.events.count) events, last \($0.events.last.map { "\($0.seq) \($0.number)" } ?? "none"), lagged \($0.lagged.map(String.init) ?? "no"), \($0.bytes.count) bytes unparsed" }
    }

    /// Takes the head, then whole chunks, and from their text whole events.
    private static func parse(_ s: inout (bytes: [UInt8], events: [Event], lagged: Int64?, head: Bool)) {
        let crlf: [UInt8] = [13, 10]
        if !s.head {
            guard let end = s.bytes.firstRange(of: crlf + crlf) else { return }
            s.bytes.removeSubrange(0..<end.upperBound)
            s.head = true
        }
        var text = ""
        while let line = s.bytes.firstRange(of: crlf), let size = Int(String(decoding: s.bytes[0..<line.lowerBound], as: UTF8.self), radix: 16),
            s.bytes.count >= line.upperBound + size + 2
        {
            text += String(decoding: s.bytes[line.upperBound..<(line.upperBound + size)], as: UTF8.self)
            s.bytes.removeSubrange(0..<(line.upperBound + size + 2))
        }
        // Every chunk is whole frames (one write each).
        for frame in text.components(separatedBy: "\n\n") where !frame.isEmpty && !frame.hasPrefix(":") {
            var fields: [String: String] = [:]
            for line in frame.split(separator: "\n") {
                guard let colon = line.firstIndex(of: ":") else { continue }
                fields[String(line[..<colon])] = String(line[line.index(after: colon)...]).trimmingCharacters(in: .whitespaces)
            }
            let data = (fields["data"]).flatMap { try? JSONDecoder().decode(JSONValue.self, from: Data($0.utf8)) }
            if fields["event"] == "lagged" {
                s.lagged = data?["resumeFrom"]?.numberValue.map { Int64($0) }
            } else if let seq = fields["id"].flatMap({ Int64($0) }), let type = fields["event"] {
                s.events.append(Event(seq: seq, type: type, number: data?["data"]?["number"]?.stringValue ?? ""))
            }
        }
    }
}
