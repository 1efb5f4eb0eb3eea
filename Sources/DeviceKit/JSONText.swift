import Foundation

/// JSON written directly, byte for byte what a `JSONEncoder` with
/// `[.sortedKeys, .withoutEscapingSlashes]` writes (the API's encoder), at a fraction
/// of its cost. Every event is written as text twice — stored in the log, and as its
/// SSE frame — and Foundation's encoder writing an event's data was a tenth of a
/// ticket issue's time, inside its write transaction. `JSONTextTests` holds it to the
/// encoder's output.
public struct JSONText: Sendable {
    public private(set) var bytes: [UInt8] = []

    public init(capacity: Int = 256) { bytes.reserveCapacity(capacity) }

    /// `value` as JSON text. Throws as the encoder does for a number that is not finite.
    public static func string(_ value: JSONValue) throws -> String {
        var w = JSONText()
        try w.append(value)
        return String(decoding: w.bytes, as: UTF8.self)
    }

    public mutating func append(_ value: JSONValue) throws {
        switch value {
        case .null: raw("null")
        case .bool(let b): b ? raw("true") : raw("false")
        case .number(let d):
            // As JSONValue encodes it: whole numbers as integers, others as the encoder writes a Double.
            if d.rounded() == d, abs(d) < 1e15 {
                bytes.append(contentsOf: String(Int64(d)).utf8)
            } else {
                bytes.append(contentsOf: try JSONEncoder().encode(d))
            }
        case .string(let s): append(s)
        case .array(let a):
            bytes.append(UInt8(ascii: "["))
            for (i, element) in a.enumerated() {
                if i > 0 { bytes.append(UInt8(ascii: ",")) }
                try append(element)
            }
            bytes.append(UInt8(ascii: "]"))
        case .object(let o):
            bytes.append(UInt8(ascii: "{"))
            // The encoder's `sortedKeys` order is Swift's string order (Unicode scalars
            // after normalisation; for ASCII, byte order: `ID` before `a2` before `a10`).
            for (i, key) in o.keys.sorted().enumerated() {
                if i > 0 { bytes.append(UInt8(ascii: ",")) }
                append(key)
                bytes.append(UInt8(ascii: ":"))
                try append(o[key]!)
            }
            bytes.append(UInt8(ascii: "}"))
        }
    }

    public mutating func append(_ s: String) { Self.append(s, to: &bytes) }

    /// An event as the API's encoder writes it (`device` left out when there is none).
    public mutating func append(_ event: HallEvent) throws {
        raw(#"{"data":"#)
        try append(event.data)
        if let device = event.device {
            raw(#","device":"#)
            append(device.rawValue)
        }
        raw(#","seq":"#)
        raw(String(event.seq))
        raw(#","time":"#)
        append(event.time)
        raw(#","type":"#)
        append(event.type)
        raw("}")
    }

    /// A JSON string as the encoder escapes it: quote, backslash and the control
    /// characters; `/` and everything beyond ASCII as it is.
    public static func append(_ s: String, to bytes: inout [UInt8]) {
        bytes.append(UInt8(ascii: "\""))
        var s = s
        s.withUTF8 { utf8 in
            var start = 0
            for (i, b) in utf8.enumerated() where b < 0x20 || b == UInt8(ascii: "\"") || b == UInt8(ascii: "\\") {
                bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[start..<i]))
                start = i + 1
                bytes.append(UInt8(ascii: "\\"))
                switch b {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"): bytes.append(b)
                case 0x08: bytes.append(UInt8(ascii: "b"))
                case 0x09: bytes.append(UInt8(ascii: "t"))
                case 0x0A: bytes.append(UInt8(ascii: "n"))
                case 0x0C: bytes.append(UInt8(ascii: "f"))
                case 0x0D: bytes.append(UInt8(ascii: "r"))
                default:
                    let hex = Array("0123456789abcdef".utf8)
                    bytes.append(contentsOf: [UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"), hex[Int(b >> 4)], hex[Int(b & 0xF)]])
                }
            }
            bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[start...]))
        }
        bytes.append(UInt8(ascii: "\""))
    }

    public mutating func raw(_ s: StaticString) {
        s.withUTF8Buffer { bytes.append(contentsOf: $0) }
    }

    public mutating func raw(_ s: String) {
        bytes.append(contentsOf: s.utf8)
    }

    /// A time in UTC as ISO 8601: `2026-11-30T08:05:09Z`, or with `milliseconds`
    /// `2026-11-30T08:05:09.123Z`; what is finer is dropped (rounded down), as Foundation's
    /// ISO 8601 styles drop it.
    public static func appendTime(_ date: Date, milliseconds: Bool, to bytes: inout [UInt8]) {
        // From the seconds since 2001, as Foundation keeps and splits them: the whole
        // seconds, then the milliseconds of what is left.
        let r = date.timeIntervalSinceReferenceDate
        let whole = r.rounded(.down)
        let seconds = Int(whole) + 978_307_200
        let ms = seconds * 1000 + (milliseconds ? min(999, Int(((r - whole) * 1000).rounded(.down))) : 0)
        let days = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
        let inDay = seconds - days * 86_400
        // Days since 1970-01-01 to a civil date (H. Hinnant's algorithm).
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        let year = yoe + era * 400 + (month <= 2 ? 1 : 0)
        digits(year, 4, to: &bytes)
        bytes.append(UInt8(ascii: "-"))
        digits(month, 2, to: &bytes)
        bytes.append(UInt8(ascii: "-"))
        digits(day, 2, to: &bytes)
        bytes.append(UInt8(ascii: "T"))
        digits(inDay / 3600, 2, to: &bytes)
        bytes.append(UInt8(ascii: ":"))
        digits(inDay / 60 % 60, 2, to: &bytes)
        bytes.append(UInt8(ascii: ":"))
        digits(inDay % 60, 2, to: &bytes)
        if milliseconds {
            bytes.append(UInt8(ascii: "."))
            digits(ms - seconds * 1000, 3, to: &bytes)
        }
        bytes.append(UInt8(ascii: "Z"))
    }

    private static func digits(_ value: Int, _ width: Int, to bytes: inout [UInt8]) {
        guard value >= 0, value < 10_000 else { return bytes.append(contentsOf: String(value).utf8) }
        var divisor = 1
        for _ in 1..<width { divisor *= 10 }
        var v = value
        while divisor > 0 {
            bytes.append(UInt8(ascii: "0") + UInt8(v / divisor % 10))
            v %= divisor
            divisor /= 10
        }
    }
}
