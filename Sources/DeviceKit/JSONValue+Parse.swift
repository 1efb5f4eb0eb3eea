import Foundation

extension JSONValue {
    /// Why a text is not JSON, and the byte where that was found.
    public struct ParseError: Error, CustomStringConvertible, Equatable {
        public let offset: Int
        public let message: String
        public var description: String { "\(message) at byte \(offset)" }
    }

    /// Parses JSON text (RFC 8259: any value at the top, UTF-8, nesting at most 512
    /// deep) into a value, naming the byte offset of the first fault. It gives what
    /// `JSONDecoder` decoding a `JSONValue` gives (`JSONValueParseTests`), at a fraction
    /// of the cost: that decoder tries each kind in turn and builds an error for every
    /// miss, and every request body went through it twice. Stricter in two things the
    /// decoder lets pass: a comma before `}` or `]`, and a key twice in one object
    /// (the decoder keeps the first and drops the second unseen).
    public static func parse(_ data: Data) throws(ParseError) -> JSONValue {
        let result: Result<JSONValue, ParseError> = data.withUnsafeBytes { bytes in
            var parser = Parser(bytes: bytes)
            return Result { () throws(ParseError) in try parser.document() }
        }
        return try result.get()
    }

    private struct Parser {
        let bytes: UnsafeRawBufferPointer
        var i = 0
        var depth = 0

        init(bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

        func fail(_ message: String, at offset: Int? = nil) -> ParseError { ParseError(offset: offset ?? i, message: message) }

        var current: UInt8? { i < bytes.count ? bytes[i] : nil }

        mutating func skipSpace() {
            while i < bytes.count, bytes[i] == 0x20 || bytes[i] == 0x0A || bytes[i] == 0x0D || bytes[i] == 0x09 { i += 1 }
        }

        mutating func document() throws(ParseError) -> JSONValue {
            skipSpace()
            let v = try value()
            skipSpace()
            if i < bytes.count { throw fail("unexpected '\(Self.show(bytes[i]))' after the end of the value") }
            return v
        }

        mutating func value() throws(ParseError) -> JSONValue {
            guard let c = current else { throw fail("the text ends where a value should be") }
            switch c {
            case UInt8(ascii: "{"): return try object()
            case UInt8(ascii: "["): return try array()
            case UInt8(ascii: "\""): return .string(try string())
            case UInt8(ascii: "t"): try literal("true"); return .bool(true)
            case UInt8(ascii: "f"): try literal("false"); return .bool(false)
            case UInt8(ascii: "n"): try literal("null"); return .null
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try number())
            default: throw fail("unexpected '\(Self.show(c))' where a value should be")
            }
        }

        mutating func literal(_ word: StaticString) throws(ParseError) {
            let start = i
            for expected in UnsafeBufferPointer(start: word.utf8Start, count: word.utf8CodeUnitCount) {
                guard current == expected else { throw fail("not '\(word)'", at: start) }
                i += 1
            }
        }

        mutating func nest() throws(ParseError) {
            depth += 1
            if depth > 512 { throw fail("nested more than 512 deep") }
        }

        mutating func object() throws(ParseError) -> JSONValue {
            try nest()
            i += 1
            var o: [String: JSONValue] = [:]
            skipSpace()
            if current == UInt8(ascii: "}") {
                i += 1
                depth -= 1
                return .object(o)
            }
            while true {
                skipSpace()
                guard current == UInt8(ascii: "\"") else { throw fail(current == nil ? "the text ends inside an object" : "expected a key in quotes, found '\(Self.show(current!))'") }
                let keyAt = i
                let key = try string()
                if o[key] != nil { throw fail("the key '\(key)' comes twice in one object", at: keyAt) }
                skipSpace()
                guard current == UInt8(ascii: ":") else { throw fail(current == nil ? "the text ends inside an object" : "expected ':' after the key '\(key)'") }
                i += 1
                skipSpace()
                o[key] = try value()
                skipSpace()
                switch current {
                case UInt8(ascii: ","): i += 1
                case UInt8(ascii: "}"):
                    i += 1
                    depth -= 1
                    return .object(o)
                case nil: throw fail("the text ends inside an object")
                default: throw fail("expected ',' or '}' in an object, found '\(Self.show(current!))'")
                }
            }
        }

        mutating func array() throws(ParseError) -> JSONValue {
            try nest()
            i += 1
            var a: [JSONValue] = []
            skipSpace()
            if current == UInt8(ascii: "]") {
                i += 1
                depth -= 1
                return .array(a)
            }
            while true {
                skipSpace()
                a.append(try value())
                skipSpace()
                switch current {
                case UInt8(ascii: ","): i += 1
                case UInt8(ascii: "]"):
                    i += 1
                    depth -= 1
                    return .array(a)
                case nil: throw fail("the text ends inside an array")
                default: throw fail("expected ',' or ']' in an array, found '\(Self.show(current!))'")
                }
            }
        }

        mutating func string() throws(ParseError) -> String {
            let open = i
            i += 1
            var start = i
            var out: [UInt8] = []
            var escaped = false
            while true {
                guard let c = current else { throw fail("the string that starts at byte \(open) has no closing quote") }
                if c == UInt8(ascii: "\"") { break }
                if c < 0x20 { throw fail("a control character (0x\(String(c, radix: 16))) inside a string must be escaped") }
                if c != UInt8(ascii: "\\") {
                    i += 1
                    continue
                }
                escaped = true
                out.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[start..<i]))
                i += 1
                guard let e = current else { throw fail("the text ends inside an escape") }
                i += 1
                switch e {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(e)
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "f"): out.append(0x0C)
                case UInt8(ascii: "n"): out.append(0x0A)
                case UInt8(ascii: "r"): out.append(0x0D)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "u"):
                    var scalar = try hex4()
                    if (0xD800..<0xDC00).contains(scalar) {
                        guard current == UInt8(ascii: "\\"), i + 1 < bytes.count, bytes[i + 1] == UInt8(ascii: "u") else {
                            throw fail("\\u\(String(scalar, radix: 16)) is half of a surrogate pair without its other half", at: i - 6)
                        }
                        i += 2
                        let low = try hex4()
                        guard (0xDC00..<0xE000).contains(low) else { throw fail("\\u\(String(low, radix: 16)) does not end a surrogate pair", at: i - 6) }
                        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    } else if (0xDC00..<0xE000).contains(scalar) {
                        throw fail("\\u\(String(scalar, radix: 16)) is half of a surrogate pair without its other half", at: i - 6)
                    }
                    out.append(contentsOf: String(Character(Unicode.Scalar(scalar)!)).utf8)
                default: throw fail("'\\\(Self.show(e))' is not an escape", at: i - 2)
                }
                start = i
            }
            let text: String?
            if escaped {
                out.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[start..<i]))
                text = String(validating: out, as: UTF8.self)
            } else {
                text = String(validating: UnsafeRawBufferPointer(rebasing: bytes[start..<i]), as: UTF8.self)
            }
            i += 1
            guard let text else { throw fail("the string that starts at byte \(open) is not UTF-8", at: open) }
            return text
        }

        mutating func hex4() throws(ParseError) -> UInt32 {
            var v: UInt32 = 0
            for _ in 0..<4 {
                guard let c = current else { throw fail("the text ends inside a \\u escape") }
                let d: UInt8
                switch c {
                case UInt8(ascii: "0")...UInt8(ascii: "9"): d = c - UInt8(ascii: "0")
                case UInt8(ascii: "a")...UInt8(ascii: "f"): d = c - UInt8(ascii: "a") + 10
                case UInt8(ascii: "A")...UInt8(ascii: "F"): d = c - UInt8(ascii: "A") + 10
                default: throw fail("'\(Self.show(c))' is not a hex digit of a \\u escape")
                }
                v = v << 4 | UInt32(d)
                i += 1
            }
            return v
        }

        mutating func number() throws(ParseError) -> Double {
            let start = i
            func digits(_ p: inout Parser) -> Int {
                let s = p.i
                while let c = p.current, c >= UInt8(ascii: "0"), c <= UInt8(ascii: "9") { p.i += 1 }
                return p.i - s
            }
            if current == UInt8(ascii: "-") { i += 1 }
            if current == UInt8(ascii: "0") {
                i += 1
                if let c = current, c >= UInt8(ascii: "0"), c <= UInt8(ascii: "9") { throw fail("a number cannot start with 0 and go on", at: start) }
            } else if digits(&self) == 0 {
                throw fail("a number needs digits", at: start)
            }
            if current == UInt8(ascii: ".") {
                i += 1
                if digits(&self) == 0 { throw fail("a number needs digits after its '.'", at: start) }
            }
            if current == UInt8(ascii: "e") || current == UInt8(ascii: "E") {
                i += 1
                if current == UInt8(ascii: "+") || current == UInt8(ascii: "-") { i += 1 }
                if digits(&self) == 0 { throw fail("a number needs digits in its exponent", at: start) }
            }
            let text = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<i]), as: UTF8.self)
            guard let d = Double(text), d.isFinite else { throw fail("the number \(text) is out of range", at: start) }
            return d
        }

        static func show(_ b: UInt8) -> String {
            b >= 0x20 && b < 0x7F ? String(UnicodeScalar(b)) : "0x" + String(b, radix: 16)
        }
    }
}
