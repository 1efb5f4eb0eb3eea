#if canImport(Glibc)
import Glibc
#endif

/// Text encodings of LED displays, keypad screens and ticket printers.
public enum TextEncoding: String, Sendable, CaseIterable, Codable {
    case ascii = "ASCII"
    case gb2312 = "GB2312"
    case gb18030 = "GB18030"
    /// GBK: what some ticket printers take instead of GB18030 (a subset of it).
    case gbk = "GBK"
    case utf8 = "UTF-8"

    public struct Unencodable: Error, Sendable, Equatable, CustomStringConvertible {
        public var character: Character
        public var offset: Int
        public var encoding: TextEncoding
        public var description: String { "'\(character)' at character \(offset) cannot be written in \(encoding.rawValue)" }
    }

    /// Encodes `text`, naming the first character the encoding cannot carry.
    public func encode(_ text: String) throws(Unencodable) -> [UInt8] {
        switch self {
        case .utf8: return Array(text.utf8)
        case .ascii:
            for (i, c) in text.enumerated() where !c.isASCII { throw Unencodable(character: c, offset: i, encoding: self) }
            return Array(text.utf8)
        case .gb2312, .gb18030, .gbk:
            var out: [UInt8] = []
            for (i, c) in text.enumerated() {
                guard let bytes = Self.iconv(Array(String(c).utf8), from: "UTF-8", to: rawValue) else {
                    throw Unencodable(character: c, offset: i, encoding: self)
                }
                out += bytes
            }
            return out
        }
    }

    /// Decodes bytes; nil when they are not valid in this encoding.
    public func decode(_ bytes: [UInt8]) -> String? {
        switch self {
        case .utf8, .ascii:
            let s = String(decoding: bytes, as: UTF8.self)
            return Array(s.utf8) == bytes && (self == .utf8 || bytes.allSatisfy { $0 < 0x80 }) ? s : nil
        case .gb2312, .gb18030, .gbk:
            return Self.iconv(bytes, from: rawValue, to: "UTF-8").map { String(decoding: $0, as: UTF8.self) }
        }
    }

    /// glibc's iconv: every Debian system carries GB2312 and GB18030 tables.
    static func iconv(_ input: [UInt8], from: String, to: String) -> [UInt8]? {
        let cd = iconv_open(to, from)
        guard cd != iconv_t(bitPattern: -1) else { return nil }
        defer { iconv_close(cd) }
        var inBuf = input.map { CChar(bitPattern: $0) }
        var outBuf = [CChar](repeating: 0, count: input.count * 4 + 8)
        let produced: Int? = inBuf.withUnsafeMutableBufferPointer { inPtr in
            outBuf.withUnsafeMutableBufferPointer { outPtr in
                var inP: UnsafeMutablePointer<CChar>? = inPtr.baseAddress
                var inLeft = inPtr.count
                var outP: UnsafeMutablePointer<CChar>? = outPtr.baseAddress
                var outLeft = outPtr.count
                let rc = Glibc.iconv(cd, &inP, &inLeft, &outP, &outLeft)
                guard rc != -1, inLeft == 0 else { return nil }
                return outPtr.count - outLeft
            }
        }
        guard let produced else { return nil }
        return outBuf[0..<produced].map { UInt8(bitPattern: $0) }
    }
}
