import DeviceKit
import Foundation
import Testing

/// Request bodies and stored event data are parsed by `JSONValue.parse`, not by
/// `JSONDecoder`: it must accept what the decoder accepts, to the same value, and
/// refuse what it refuses, naming where.
@Suite("JSON parsed directly", .timeLimit(.minutes(1)))
struct JSONValueParseTests {
    func decoded(_ text: [UInt8]) -> JSONValue? { try? JSONDecoder().decode(JSONValue.self, from: Data(text)) }
    func parsed(_ text: [UInt8]) -> JSONValue? { try? JSONValue.parse(Data(text)) }

    @Test("texts the encoder writes, and hand-written ones with every escape, space and number form: the decoder's value")
    func accepted() throws {
        var texts: [String] = [
            #"{}"#, #"[]"#, #" { "a" : [ 1 , 2.5 , -0 , -0.25e-3 , 1E+2 , 12345678901234567890 ] , "b" : { } } "#, "\t\r\n[true,false,null]\n",
            #""\"\\\/\b\f\n\r\t""#, #""\u00e9\u4E2D\ud83d\ude42 \u0000""#, #""社会保障 🙂""#, "0", "-1.5", #""""#, #"[[[[[]]]]]"#,
            #"{"service":"A","priority":"green"}"#, "1e308", "-1e-320",
        ]
        var seed: UInt64 = 0x2545_F491_4F6C_DD1D
        func next(_ n: Int) -> Int {
            seed = seed &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int(seed >> 33) % n
        }
        func random(_ depth: Int) -> JSONValue {
            switch depth == 0 ? next(4) : next(6) {
            case 0: return next(2) == 0 ? .null : .bool(next(2) == 0)
            case 1: return .number([0, -1, 0.5, 1e-7, 123_456.789, 1e300, -2.25e-300][next(7)])
            case 2, 3: return .string(["", "a/b", "\"\\", "\u{01}\u{1F}\u{7F}", "排队 🙂", "\u{2028}"][next(6)])
            case 4: return .array((0..<next(4)).map { _ in random(depth - 1) })
            default: return .object(Dictionary((0..<next(5)).map { _ in (["k", "K", "窗口", "a b", ""][next(5)], random(depth - 1)) }) { a, _ in a })
            }
        }
        for _ in 0..<2000 { texts.append(String(decoding: try JSONEncoder().encode(random(3)), as: UTF8.self)) }
        for text in texts {
            let bytes = Array(text.utf8)
            let expected = try #require(decoded(bytes), "the decoder accepts \(text)")
            #expect(parsed(bytes) == expected, "\(text)")
        }
    }

    @Test("texts that are not JSON: refused as the decoder refuses them, with the byte where the fault is")
    func refused() {
        let texts: [(String, Int)] = [
            ("", 0), ("{", 1), ("01", 0), ("1.", 0), ("-", 0), ("tru", 0), (#""\x""#, 1), ("\"a\nb\"", 2),
            (#""\ud800""#, 1), (#""\udc00x""#, 1), ("1e999", 0), ("[1] x", 4), (#"{"a" 1}"#, 5), (#"{a:1}"#, 1), ("[1 2]", 3), (#""abc"#, 4),
            ("nul", 0), (".5", 0), ("+1", 0), ("1e", 0), (#"{"a":}"#, 5), ("[", 1),
        ]
        for (text, offset) in texts {
            let bytes = Array(text.utf8)
            #expect(decoded(bytes) == nil, "the decoder refuses \(text)")
            do {
                let v = try JSONValue.parse(Data(bytes))
                Issue.record("\(text) parsed as \(v)")
            } catch {
                #expect(error.offset == offset, "\(text): \(error)")
            }
        }
        // Stricter than the decoder: a trailing comma, and a key twice (the decoder
        // keeps the first value and drops the second without a word).
        for (text, offset) in [(#"{"a":1,}"#, 7), ("[1,]", 3), (#"{"a":1,"a":2}"#, 7)] {
            #expect(decoded(Array(text.utf8)) != nil, "the decoder lets \(text) pass")
            #expect(throws: JSONValue.ParseError.self) { try JSONValue.parse(Data(text.utf8)) }
            do { _ = try JSONValue.parse(Data(text.utf8)) } catch { #expect(error.offset == offset, "\(text): \(error)") }
        }
        // Not UTF-8, and nested deeper than the decoder goes.
        #expect(decoded([0x22, 0xFF, 0x22]) == nil && parsed([0x22, 0xFF, 0x22]) == nil)
        let deep = Array(String(repeating: "[", count: 600).utf8) + Array(String(repeating: "]", count: 600).utf8)
        #expect(decoded(deep) == nil && parsed(deep) == nil)
    }
}
