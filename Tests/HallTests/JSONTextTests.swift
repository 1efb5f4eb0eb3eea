import DeviceKit
import Foundation
@testable import HallAPI
import HallModel
import NIOCore
import Testing

/// Event data and SSE frames are written by `JSONText`, not by Foundation's encoder:
/// their bytes must be the API encoder's (sorted keys, unescaped slashes) for every
/// kind of value, key and character.
@Suite("event JSON written directly", .timeLimit(.minutes(1)))
struct JSONTextTests {
    func encoded(_ value: some Encodable) throws -> String { String(decoding: try jsonEncoder.encode(value), as: UTF8.self) }

    /// A random value `depth` levels deep, from a generator the test seeds.
    func value(_ seed: inout UInt64, depth: Int) -> JSONValue {
        func next(_ n: Int) -> Int {
            seed = seed &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int(seed >> 33) % n
        }
        // Keys as halld writes them, and ones Foundation orders its own way: case,
        // digits (numerically: a2 before a10), underscores, dashes, spaces, Chinese.
        let keys = ["id", "ID", "Id", "iD", "number", "staffId", "staffid", "staff_id", "_x", "a2", "a10", "a-b", "a b", "窗口", "Z", "z", "", "waitingAhead", "waiting"]
        let strings = ["", "社会保障", "a\"b\\c/d", "\u{7F}\u{80}\u{2028}", "🙂", "\r\n\t\u{08}\u{0C}\u{00}\u{1F}", "https://x/y"]
        let numbers: [Double] = [0, -1, 42, 1e15 - 1, 1e15, -1e15, 0.5, -2.25, 1e-7, 123_456.789, 1e300, Double(Int64.max)]
        switch depth == 0 ? next(4) : next(6) {
        case 0: return next(2) == 0 ? .null : .bool(next(2) == 0)
        case 1: return .number(numbers[next(numbers.count)])
        case 2, 3: return .string(strings[next(strings.count)])
        case 4: return .array((0..<next(4)).map { _ in value(&seed, depth: depth - 1) })
        default:
            var o: [String: JSONValue] = [:]
            for _ in 0..<next(8) { o[keys[next(keys.count)]] = value(&seed, depth: depth - 1) }
            return .object(o)
        }
    }

    @Test("values of every kind, keys in the encoder's order (case, digits, underscores, Chinese), strings with every escape: the encoder's bytes")
    func values() throws {
        var seed: UInt64 = 0x2545_F491_4F6C_DD1D
        for n in 0..<3000 {
            let v = value(&seed, depth: 3)
            let (a, b) = (try JSONText.string(v), try encoded(v))
            #expect(a == b, "value \(n)")
            if a != b { break }
        }
        // Every ASCII character in a key and in a string.
        for c in 0..<128 {
            let s = String(UnicodeScalar(UInt8(c)))
            var o: [String: JSONValue] = ["K": .null]
            o[s] = .string(s)
            o["k\(s)k"] = .string("v\(s)v")
            let v: JSONValue = .object(o)
            #expect(try JSONText.string(v) == (try encoded(v)), "character \(c)")
        }
    }

    @Test("event times: what Foundation's ISO 8601 style with fractional seconds writes, across years, leap days, midnight, before 1970 and every millisecond edge")
    func times() {
        let style = Date.ISO8601FormatStyle(includingFractionalSeconds: true)
        var instants: [Double] = [0, 0.0004, 0.0005, 0.9994, 0.9995, 0.9999, 1.001, -0.0004, -0.5, -1.0006, 59.999, 86_399.999, 951_782_400.001, 1_709_164_799.999]
        var seed: UInt64 = 0x9E37_79B9_7F4A_7C15
        for _ in 0..<20_000 {
            seed = seed &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            instants.append(Double(seed >> 34) / 2.0 - 1e9 + Double(seed & 0xFFFFF) / 1_048_576)
        }
        for x in instants {
            let d = Date(timeIntervalSince1970: x)
            let (a, b) = (Timestamp.string(d), d.formatted(style))
            #expect(a == b, "seconds since 1970: \(x)")
            if a != b { break }
        }
        #expect(Timestamp.date(Timestamp.string(Date(timeIntervalSince1970: 1_800_000_000.25))) == Date(timeIntervalSince1970: 1_800_000_000.25))
    }

    @Test("a number that is not finite is refused, as the encoder refuses it")
    func notFinite() {
        for d in [Double.nan, .infinity, -.infinity] {
            #expect(throws: (any Error).self) { try JSONText.string(.object(["x": .number(d)])) }
            #expect(throws: (any Error).self) { try jsonEncoder.encode(JSONValue.number(d)) }
        }
    }

    @Test("an event's SSE frame: id, type and the event as the encoder writes it, with and without a device")
    func frames() throws {
        let t0 = Date(timeIntervalSince1970: 1_800_000_000.25)
        let ticket = Ticket(
            id: "2027-01-15-A001", number: "A001", service: "A", day: "2027-01-15", priority: .green, state: .waiting, issuedAt: t0, queuedAt: t0,
            clerk: "王芳 \"小王\"", recalls: 0, staffId: "S/001")
        let events = [
            HallEvent(seq: 9_000_000_001, type: "ticket.issued", time: Timestamp.string(t0), device: nil, data: ticket.jsonValue),
            HallEvent(seq: 7, type: "device.status", time: Timestamp.string(t0), device: DeviceID("display-1"), data: ["state": "faulted", "fault": "timeout"]),
            HallEvent(seq: 8, type: "keypad.key", time: "t", device: DeviceID("keypad-1"), data: .null),
        ]
        for e in events {
            let frame = String(decoding: EventsController.frame(e).readableBytesView, as: UTF8.self)
            #expect(frame == "id: \(e.seq)\nevent: \(e.type)\ndata: \(try encoded(e))\n\n")
            // As stored in the event log: read back, the same data.
            #expect(try JSONDecoder().decode(JSONValue.self, from: Data(try JSONText.string(e.data).utf8)) == e.data)
        }
    }
}
