import DeviceKit
import Foundation
import HallAPIModels
import NIOCore

/// Tickets written as JSON directly, byte for byte what `jsonEncoder` (sorted keys,
/// unescaped slashes, ISO 8601 seconds) writes for them, at a fraction of its cost:
/// the ticket list is the largest answer halld gives (hundreds of waiting tickets,
/// polled by kiosks and clerk programs), and under a 200-client soak Foundation's
/// encoder took three quarters of halld's CPU writing it. `TicketJSONTests` holds it
/// to the encoder's output.
struct TicketJSON {
    private(set) var bytes: [UInt8] = []
    private var comma = false

    init(capacity: Int = 512) { bytes.reserveCapacity(capacity) }

    static func encode(_ ticket: Ticket) -> ByteBuffer {
        var w = TicketJSON()
        w.write(ticket)
        return ByteBuffer(bytes: w.bytes)
    }

    static func encode(_ tickets: [Ticket]) -> ByteBuffer {
        var pieces: [String: Piece] = [:]
        return encode(tickets, reusing: &pieces, stamp: 0)
    }

    /// A ticket's JSON as last written, with the ticket it shows and the stamp of the
    /// last list that used it.
    struct Piece {
        var ticket: Ticket
        var json: [UInt8]
        var used: Int
    }

    /// A list, reusing the JSON of the tickets that have not changed since a list
    /// before it (between two lists most have not: a new ticket joins the end of its
    /// queue) and keeping the new pieces in `pieces`, in place. Pieces no list has used
    /// in the last few stamps go when they outnumber the list's tickets.
    static func encode(_ tickets: [Ticket], reusing pieces: inout [String: Piece], stamp: Int) -> ByteBuffer {
        var body = ByteBuffer()
        body.reserveCapacity(16 + tickets.count * 400)
        body.writeInteger(UInt8(ascii: "["))
        for (i, t) in tickets.enumerated() {
            if i > 0 { body.writeInteger(UInt8(ascii: ",")) }
            if let index = pieces.index(forKey: t.id), pieces.values[index].ticket == t {
                body.writeBytes(pieces.values[index].json)
                pieces.values[index].used = stamp
            } else {
                var w = TicketJSON(capacity: 400)
                w.write(t)
                body.writeBytes(w.bytes)
                pieces[t.id] = Piece(ticket: t, json: w.bytes, used: stamp)
            }
        }
        body.writeInteger(UInt8(ascii: "]"))
        if pieces.count > 2 * tickets.count + 64 { pieces = pieces.filter { stamp - $0.value.used < 8 } }
        return body
    }

    /// One ticket, its keys in `JSONEncoder`'s sorted order (byte order of the key),
    /// an absent optional left out as the synthesized `Encodable` leaves it out.
    mutating func write(_ t: Ticket) {
        raw("{")
        comma = false
        field("appointment", t.appointment)
        field("calledAt", t.calledAt)
        field("clerk", t.clerk)
        field("day", t.day)
        field("finishedAt", t.finishedAt)
        field("id", t.id)
        field("issuedAt", t.issuedAt)
        field("number", t.number)
        if let overdue = t.overdue {
            key("overdue")
            raw("[")
            for (i, s) in overdue.enumerated() {
                if i > 0 { raw(",") }
                string(s)
            }
            raw("]")
        }
        field("printError", t.printError)
        field("printJob", t.printJob)
        field("priority", t.priority.rawValue)
        field("queuedAt", t.queuedAt)
        field("recalls", t.recalls)
        field("service", t.service)
        field("slot", t.slot)
        field("staffId", t.staffId)
        field("state", t.state.rawValue)
        field("transferredFrom", t.transferredFrom)
        field("waitingAhead", t.waitingAhead)
        field("window", t.window)
        raw("}")
    }

    // MARK: pieces

    private mutating func raw(_ s: StaticString) {
        s.withUTF8Buffer { bytes.append(contentsOf: $0) }
    }

    private mutating func key(_ k: StaticString) {
        if comma { bytes.append(UInt8(ascii: ",")) }
        comma = true
        bytes.append(UInt8(ascii: "\""))
        raw(k)
        bytes.append(UInt8(ascii: "\""))
        bytes.append(UInt8(ascii: ":"))
    }

    private mutating func field(_ k: StaticString, _ value: String?) {
        guard let value else { return }
        key(k)
        string(value)
    }

    private mutating func field(_ k: StaticString, _ value: Int?) {
        guard let value else { return }
        key(k)
        bytes.append(contentsOf: String(value).utf8)
    }

    private mutating func field(_ k: StaticString, _ value: Date?) {
        guard let value else { return }
        key(k)
        bytes.append(UInt8(ascii: "\""))
        iso8601(value)
        bytes.append(UInt8(ascii: "\""))
    }

    /// A JSON string as `JSONEncoder` escapes it (`JSONText`).
    private mutating func string(_ s: String) { JSONText.append(s, to: &bytes) }

    /// `2026-11-30T08:05:09Z`: whole seconds (the fraction dropped), UTC.
    private mutating func iso8601(_ date: Date) { JSONText.appendTime(date, milliseconds: false, to: &bytes) }
}
