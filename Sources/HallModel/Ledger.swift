import Foundation

/// An entry of the 办不成事 ledger (办不成事反映窗口台账): a request the hall could
/// not settle, why, who took it, and later how it was resolved.
public struct LedgerEntry: Sendable, Codable, Equatable {
    public enum State: String, Sendable, Codable, CaseIterable { case open, resolved }

    public var id: String
    public var at: Date
    /// What the citizen came for.
    public var matter: String
    /// The citizen's contact, masked before it is stored (138****5678).
    public var contact: String?
    /// Why it could not be settled.
    public var reason: String
    public var window: Int?
    /// The clerk at the window, by staff id and name.
    public var staffId: String?
    public var clerk: String?
    /// Who took the matter over (the 办不成事 window's clerk, a department).
    public var handler: String?
    public var state: State
    public var resolution: String?
    public var resolvedAt: Date?
    public var resolvedBy: String?

    public init(
        id: String, at: Date, matter: String, contact: String?, reason: String, window: Int?, staffId: String?, clerk: String?, handler: String?,
        state: State = .open, resolution: String? = nil, resolvedAt: Date? = nil, resolvedBy: String? = nil
    ) {
        self.id = id
        self.at = at
        self.matter = matter
        self.contact = contact
        self.reason = reason
        self.window = window
        self.staffId = staffId
        self.clerk = clerk
        self.handler = handler
        self.state = state
        self.resolution = resolution
        self.resolvedAt = resolvedAt
        self.resolvedBy = resolvedBy
    }

    /// A contact as it may be kept: a mobile number shows its first 3 and last 4 digits,
    /// anything else its first and last character.
    public static func masked(_ contact: String) -> String {
        let c = contact.trimmingCharacters(in: .whitespaces)
        let digits = c.filter(\.isNumber)
        if digits.count == 11, digits.count == c.count {
            return String(digits.prefix(3)) + "****" + String(digits.suffix(4))
        }
        guard c.count > 2 else { return String(c.prefix(1)) + "*" }
        return String(c.prefix(1)) + String(repeating: "*", count: min(c.count - 2, 6)) + String(c.suffix(1))
    }

    /// The ledger as CSV (UTF-8, a header line, fields quoted where needed), times in `timeZone`.
    public static func csv(_ entries: [LedgerEntry], timeZone: TimeZone) -> String {
        var table = CSVTable(
            header: ["id", "time", "matter", "contact", "reason", "window", "staff_id", "clerk", "handler", "state", "resolution", "resolved_at", "resolved_by"],
            timeZone: timeZone)
        for e in entries {
            table.row([
                e.id, table.time(e.at), e.matter, e.contact ?? "", e.reason, e.window.map(String.init) ?? "", e.staffId ?? "", e.clerk ?? "", e.handler ?? "",
                e.state.rawValue, e.resolution ?? "", table.time(e.resolvedAt), e.resolvedBy ?? "",
            ])
        }
        return table.text
    }
}

/// A CSV field: quoted when it holds a comma, a quote or a line break (quotes doubled).
public func csvField(_ s: String) -> String {
    guard s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return s }
    return "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\""
}

/// A CSV export (UTF-8, a header line, fields quoted where needed) whose times are
/// written `2026-11-30 09:05` in the hall's time zone.
public struct CSVTable {
    private var calendar = Calendar(identifier: .gregorian)
    public private(set) var text: String

    public init(header: [String], timeZone: TimeZone) {
        calendar.timeZone = timeZone
        text = header.joined(separator: ",") + "\n"
    }

    public func time(_ d: Date?) -> String {
        guard let d else { return "" }
        let c = calendar.dateComponents([.year, .month, .day, .hour, .minute], from: d)
        return String(format: "%04d-%02d-%02d %02d:%02d", c.year!, c.month!, c.day!, c.hour!, c.minute!)
    }

    public mutating func row(_ fields: [String]) { text += fields.map(csvField).joined(separator: ",") + "\n" }
}

/// Reads CSV (RFC 4180: quoted fields with "" and line breaks inside, CRLF or LF, a
/// UTF-8 byte order mark at the start ignored): the records, each with the line it
/// starts on. An unterminated quote is an error naming its line.
public enum CSVReader {
    public struct Failure: Error, CustomStringConvertible, Sendable {
        public let line: Int
        public let message: String
        public var description: String { "line \(line): \(message)" }
    }

    public static func records(_ text: String) throws(Failure) -> [(line: Int, fields: [String])] {
        var out: [(Int, [String])] = []
        var fields: [String] = [], field = "", quoted = false, wasQuoted = false
        var line = 1, start = 1
        var chars = Array(text.hasPrefix("\u{FEFF}") ? String(text.dropFirst()) : text)
        chars.append("\n")
        var i = 0
        func endRecord() {
            fields.append(field)
            if !(fields.count == 1 && fields[0].isEmpty && !wasQuoted) { out.append((start, fields)) }
            fields = []
            field = ""
            wasQuoted = false
        }
        while i < chars.count {
            let c = chars[i]
            if quoted {
                if c == "\"" {
                    if i + 1 < chars.count, chars[i + 1] == "\"" {
                        field.append("\"")
                        i += 1
                    } else {
                        quoted = false
                    }
                } else {
                    if c == "\n" || c == "\r\n" { line += 1 }
                    field.append(c)
                }
            } else if c == "\"" && field.isEmpty {
                quoted = true
                wasQuoted = true
            } else if c == "," {
                fields.append(field)
                field = ""
            } else if c == "\n" || c == "\r\n" || c == "\r" {
                endRecord()
                line += 1
                start = line
            } else {
                field.append(c)
            }
            i += 1
        }
        if quoted { throw Failure(line: start, message: "a quoted field is not closed") }
        return out
    }
}

/// Where the ledger is kept: with the hall.
public protocol LedgerStore: Sendable {
    /// Stores (or replaces) an entry.
    func saveLedgerEntry(_ entry: LedgerEntry) async throws
    /// Entries written in [from, to), oldest first.
    func ledger(from: Date, to: Date) async throws -> [LedgerEntry]
    func ledgerEntry(_ id: String) async throws -> LedgerEntry?
}
