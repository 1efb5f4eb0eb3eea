import TOMLKit
import WireProtocols

/// A parsed configuration value, independent of the TOML library, so reading and
/// checking it is plain Swift.
public indirect enum ConfigValue: Sendable, Equatable {
    case string(String)
    case int(Int)
    case double(Double)
    case bool(Bool)
    case array([ConfigValue])
    case table([String: ConfigValue])
    /// Dates and times: no key takes one today.
    case other(String)

    var typeName: String {
        switch self {
        case .string: "a string"
        case .int: "an integer"
        case .double: "a number"
        case .bool: "true or false"
        case .array: "an array"
        case .table: "a table"
        case .other(let t): "a \(t)"
        }
    }

    var shown: String {
        switch self {
        case .string(let s): "\"\(s)\""
        case .int(let i): "\(i)"
        case .double(let d): "\(d)"
        case .bool(let b): "\(b)"
        case .array(let a): "[\(a.map(\.shown).joined(separator: ", "))]"
        case .table: "a table"
        case .other(let t): t
        }
    }

    /// Parses TOML text. Syntax errors carry line and column.
    static func parse(toml text: String, file: String) throws -> [String: ConfigValue] {
        if let (line, column) = unquotedHeaderStart(text) {
            throw ConfigError(
                file: file, key: nil,
                message: "line \(line), column \(column): a table name starts with a letter, digit, - or _; quote other names ([\"设备\"])")
        }
        do {
            let table = try TOMLTable(string: text)
            return convert(table)
        } catch let e as TOMLParseError {
            throw ConfigError(file: file, key: nil, message: "line \(e.source.begin.line), column \(e.source.begin.column): \(e.description)")
        }
    }

    /// The position of a table header whose name starts with a character a bare key
    /// cannot have and that is not a quote (`[设备]`, or `[` left at the end of a line).
    /// toml++ does not check this before reading the key: it stops the process on an
    /// assertion (or, built without assertions, reads on undefined). Found by
    /// `make fuzz` (config). Headers are told from arrays by tracking brackets of
    /// values, strings and comments.
    static func unquotedHeaderStart(_ text: String) -> (line: Int, column: Int)? {
        var depth = 0  // open [ and { of values
        var string: String?  // the open quote: " ' """ '''
        // Unicode scalars, not Characters: a combining mark after '[' (U+06DC) would
        // otherwise join it into one Character and hide the bracket.
        for (index, line) in text.unicodeScalars.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            var chars = Array(line)
            if chars.last == "\r" { chars.removeLast() }
            var i = 0
            if string == nil, depth == 0 {
                while i < chars.count, chars[i] == " " || chars[i] == "\t" { i += 1 }
                if i < chars.count, chars[i] == "[" {
                    i += chars.count > i + 1 && chars[i + 1] == "[" ? 2 : 1
                    while i < chars.count, chars[i] == " " || chars[i] == "\t" { i += 1 }
                    let c: Unicode.Scalar = i < chars.count ? chars[i] : "\n"
                    let bare = ("a"..."z").contains(c) || ("A"..."Z").contains(c) || ("0"..."9").contains(c) || c == "-" || c == "_"
                    if !(bare || c == "\"" || c == "'" || c == "]") { return (index + 1, i + 1) }
                    // The rest of a header line is names and a comment: no values.
                    continue
                }
            }
            while i < chars.count {
                let c = chars[i]
                if let open = string {
                    if c == "\\", open == "\"" || open == "\"\"\"" {
                        i += 2
                        continue
                    }
                    let q = Array(open.unicodeScalars)
                    if i + q.count <= chars.count, Array(chars[i..<i + q.count]) == q {
                        string = nil
                        i += q.count
                        continue
                    }
                    i += 1
                    continue
                }
                switch c {
                case "#": i = chars.count
                case "\"", "'":
                    let triple = i + 2 < chars.count && chars[i + 1] == c && chars[i + 2] == c
                    string = triple ? String(repeating: String(c), count: 3) : String(c)
                    i += triple ? 3 : 1
                case "[", "{":
                    depth += 1
                    i += 1
                case "]", "}":
                    depth = max(0, depth - 1)
                    i += 1
                default: i += 1
                }
            }
            // A one-line string does not go on to the next line.
            if string == "\"" || string == "'" { string = nil }
        }
        return nil
    }

    private static func convert(_ table: TOMLTable) -> [String: ConfigValue] {
        var result: [String: ConfigValue] = [:]
        for key in table.keys {
            if let v = table[key] { result[key] = convert(v) }
        }
        return result
    }

    private static func convert(_ value: any TOMLValueConvertible) -> ConfigValue {
        switch value.type {
        case .string: return .string(value.string ?? "")
        case .int: return .int(value.int ?? 0)
        case .double: return .double(value.double ?? 0)
        case .bool: return .bool(value.bool ?? false)
        case .array: return .array((value.array ?? TOMLArray()).map { convert($0) })
        case .table: return .table(value.table.map { convert($0) } ?? [:])
        default: return .other(value.type.description)
        }
    }
}

/// A configuration problem: the file, the key path, and what was expected.
public struct ConfigError: Error, Sendable, Equatable, CustomStringConvertible {
    public var file: String
    public var key: String?
    public var message: String

    public init(file: String, key: String?, message: String) {
        self.file = file
        self.key = key
        self.message = message
    }

    public var description: String {
        if let key { return "\(file): \(key): \(message)" }
        return "\(file): \(message)"
    }
}

/// Reads one table, remembering which keys were read so `finish()` can refuse the rest.
struct TableReader {
    let file: String
    let path: String
    let values: [String: ConfigValue]
    private var read: Set<String> = []

    init(file: String, path: String, values: [String: ConfigValue]) {
        self.file = file
        self.path = path
        self.values = values
    }

    /// Every key of the table, sorted.
    var keys: [String] { values.keys.sorted() }

    func keyPath(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    func error(_ key: String, _ message: String) -> ConfigError {
        ConfigError(file: file, key: keyPath(key), message: message)
    }

    private func expected(_ key: String, _ what: String, _ found: ConfigValue) -> ConfigError {
        error(key, "expected \(what), found \(found.typeName) \(found.shown)")
    }

    mutating func string(_ key: String) throws -> String? {
        read.insert(key)
        guard let v = values[key] else { return nil }
        guard case .string(let s) = v else { throw expected(key, "a string", v) }
        return s
    }

    mutating func string(_ key: String, oneOf allowed: [String]) throws -> String? {
        guard let s = try string(key) else { return nil }
        guard allowed.contains(s) else { throw error(key, "expected one of \(allowed.joined(separator: ", ")), found \"\(s)\"") }
        return s
    }

    mutating func int(_ key: String, in range: ClosedRange<Int>) throws -> Int? {
        read.insert(key)
        guard let v = values[key] else { return nil }
        guard case .int(let i) = v else { throw expected(key, "an integer", v) }
        guard range.contains(i) else { throw error(key, "expected \(range.lowerBound) to \(range.upperBound), found \(i)") }
        return i
    }

    mutating func seconds(_ key: String, in range: ClosedRange<Double>) throws -> Double? {
        read.insert(key)
        guard let v = values[key] else { return nil }
        let d: Double
        switch v {
        case .int(let i): d = Double(i)
        case .double(let x): d = x
        default: throw expected(key, "a number of seconds", v)
        }
        guard range.contains(d) else { throw error(key, "expected \(range.lowerBound) to \(range.upperBound) seconds, found \(d)") }
        return d
    }

    mutating func strings(_ key: String) throws -> [String]? {
        read.insert(key)
        guard let v = values[key] else { return nil }
        guard case .array(let items) = v else { throw expected(key, "an array of strings", v) }
        return try items.enumerated().map { i, item in
            guard case .string(let s) = item else { throw expected("\(key)[\(i)]", "a string", item) }
            return s
        }
    }

    mutating func bool(_ key: String) throws -> Bool? {
        read.insert(key)
        guard let v = values[key] else { return nil }
        guard case .bool(let b) = v else { throw expected(key, "true or false", v) }
        return b
    }

    /// Bytes written in hex: `"FF 68"`.
    mutating func bytes(_ key: String) throws -> [UInt8]? {
        guard let s = try string(key) else { return nil }
        guard let bytes = parseHex(s) else { throw error(key, "expected bytes in hex such as \"FF 68\", found \"\(s)\"") }
        return bytes
    }

    mutating func ints(_ key: String, in range: ClosedRange<Int>) throws -> [Int]? {
        read.insert(key)
        guard let v = values[key] else { return nil }
        guard case .array(let items) = v else { throw expected(key, "an array of integers", v) }
        return try items.enumerated().map { i, item in
            guard case .int(let n) = item else { throw expected("\(key)[\(i)]", "an integer", item) }
            guard range.contains(n) else { throw error("\(key)[\(i)]", "expected \(range.lowerBound) to \(range.upperBound), found \(n)") }
            return n
        }
    }

    mutating func table(_ key: String) throws -> TableReader? {
        read.insert(key)
        guard let v = values[key] else { return nil }
        guard case .table(let t) = v else { throw expected(key, "a table [\(keyPath(key))]", v) }
        return TableReader(file: file, path: keyPath(key), values: t)
    }

    mutating func tables(_ key: String) throws -> [TableReader] {
        read.insert(key)
        guard let v = values[key] else { return [] }
        guard case .array(let items) = v else { throw expected(key, "an array of tables [[\(keyPath(key))]]", v) }
        return try items.enumerated().map { i, item in
            guard case .table(let t) = item else { throw expected("\(key)[\(i)]", "a table", item) }
            return TableReader(file: file, path: "\(keyPath(key))[\(i)]", values: t)
        }
    }

    /// Refuses keys nobody read: a typo must not pass as a default.
    func finish() throws {
        for key in values.keys.sorted() where !read.contains(key) {
            throw error(key, "unknown key (known here: \(read.sorted().joined(separator: ", ")))")
        }
    }
}
