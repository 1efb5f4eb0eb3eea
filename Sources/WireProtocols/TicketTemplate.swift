import DeviceKit

/// A ticket's layout: one entry a line, written in configuration as
/// `"STYLE: TEXT"`, with `{field}` placeholders filled from the ticket. Styles,
/// comma-separated: `left`, `center`, `right`, `bold`, `x2`/`x3`… (enlarged, `GS !`),
/// and the whole-line kinds `qr: TEXT` (a QR code), `rule` (a line of dashes),
/// `feed N` and `cut` (partial cut).
public struct TicketTemplate: Sendable, Equatable {
    public enum Alignment: String, Sendable { case left, center, right }

    public enum Line: Sendable, Equatable {
        case text(String, alignment: Alignment, bold: Bool, scale: Int)
        case qr(String)
        case rule
        case feed(Int)
        case cut
    }

    public var lines: [Line]

    public init(lines: [Line]) { self.lines = lines }
}

/// How a printer prints tickets: its paper, its encoding and the template.
public struct TicketLayout: Sendable, Equatable {
    public var template: TicketTemplate
    public var paper: ESCPOS.Paper
    public var encoding: TextEncoding

    public init(template: TicketTemplate = .standard, paper: ESCPOS.Paper = .mm58, encoding: TextEncoding = .gb18030) {
        self.template = template
        self.paper = paper
        self.encoding = encoding
    }

    public func render(_ fields: TicketFields) throws(TicketTemplate.RenderError) -> [UInt8] {
        try template.render(fields, paper: paper, encoding: encoding)
    }
}

extension TicketTemplate {
    /// The layout of a queue ticket as most halls print it.
    public static let standard = try! TicketTemplate(parsing: standardLines)

    /// The standard layout as configuration lines (`ticket_template`).
    public static let standardLines = [
        "center,bold: {hall}",
        "center: {service}",
        "rule",
        "center,x3,bold: {number}",
        "center: 您前面还有 {waitingAhead} 人等候",
        "center: {notice}",
        "rule",
        "left: 取号时间: {time}",
        "qr: {id}",
        "center: 请留意叫号, 过号请重新取号",
        "feed 2",
        "cut",
    ]
}

extension TicketTemplate {
    /// A problem with one template line: its index and what is wrong.
    public struct ParseError: Error, Sendable, Equatable, CustomStringConvertible {
        public var index: Int
        public var message: String
        public var description: String { "lines[\(index)]: \(message)" }
    }

    public init(parsing entries: [String]) throws(ParseError) {
        self.init(lines: try Self.parse(entries))
    }

    static func parse(_ entries: [String]) throws(ParseError) -> [Line] {
        var lines: [Line] = []
        for (i, entry) in entries.enumerated() {
            let trimmed = entry[...].trimmed
            if trimmed == "cut" { lines.append(.cut); continue }
            if trimmed == "rule" { lines.append(.rule); continue }
            if trimmed.hasPrefix("feed") {
                guard let n = Int(trimmed.dropFirst(4).trimmed), (1...20).contains(n) else {
                    throw ParseError(index: i, message: "expected `feed N` with N 1-20, found \"\(entry)\"")
                }
                lines.append(.feed(n))
                continue
            }
            guard let colon = entry.firstIndex(of: ":") else {
                throw ParseError(index: i, message: "expected \"STYLE: TEXT\", `rule`, `feed N` or `cut`, found \"\(entry)\"")
            }
            let styles = entry[..<colon].split(separator: ",").map { $0.trimmed }
            var text = String(entry[entry.index(after: colon)...])
            if text.hasPrefix(" ") { text.removeFirst() }
            if styles == ["qr"] { lines.append(.qr(text)); continue }
            var alignment = Alignment.left, bold = false, scale = 1
            for style in styles {
                if let a = Alignment(rawValue: style) {
                    alignment = a
                } else if style == "bold" {
                    bold = true
                } else if style.hasPrefix("x"), let n = Int(style.dropFirst()), (1...8).contains(n) {
                    scale = n
                } else {
                    throw ParseError(index: i, message: "unknown style \"\(style)\" (left, center, right, bold, x2 … x8, or qr alone)")
                }
            }
            lines.append(.text(text, alignment: alignment, bold: bold, scale: scale))
        }
        return lines
    }
}

/// A ticket's fields, by the names templates use: hall, service, number,
/// waitingAhead, time, notice, id, and any others.
public struct TicketFields: Sendable, Equatable {
    public var values: [String: String]
    public init(_ values: [String: String]) { self.values = values }
}

extension TicketTemplate {
    /// A field a template names that the ticket lacks, or a character the encoding cannot write.
    public struct RenderError: Error, Sendable, Equatable, CustomStringConvertible {
        public var field: String
        public var message: String
        public var description: String { "\(field): \(message)" }
    }

    /// Fills `{field}` placeholders; a missing field is an error naming it.
    static func fill(_ text: String, _ fields: TicketFields) throws(RenderError) -> String {
        var out = ""
        var rest = Substring(text)
        while let open = rest.firstIndex(of: "{"), let close = rest[open...].firstIndex(of: "}") {
            out += rest[..<open]
            let name = String(rest[rest.index(after: open)..<close])
            guard let value = fields.values[name] else {
                throw RenderError(field: "ticket.\(name)", message: "the ticket template uses {\(name)}, and the ticket has no \(name)")
            }
            out += value
            rest = rest[rest.index(after: close)...]
        }
        return out + rest
    }

    /// Fields a ticket may leave out: the lines that use them are left out too.
    public static let optionalFields: Set<String> = ["notice", "waitingAhead", "window", "hall"]

    /// The ticket's ESC/POS bytes for `paper`, text in `encoding`.
    public func render(_ fields: TicketFields, paper: ESCPOS.Paper, encoding: TextEncoding = .gb18030) throws(RenderError) -> [UInt8] {
        var out = ESCPOS.initialize
        for line in lines {
            switch line {
            case .text(let template, let alignment, let bold, let scale):
                let text: String
                do {
                    text = try Self.fill(template, fields)
                } catch where Self.optionalFields.contains(String(error.field.dropFirst("ticket.".count))) {
                    continue
                }
                if text.isEmpty { continue }
                let width = paper.columns / scale
                if bold { out += ESCPOS.bold(true) }
                if scale > 1 { out += ESCPOS.size(width: scale, height: scale) }
                for piece in ESCPOS.wrap(text, width: width) {
                    let pad = width - displayColumns(piece)
                    let lead = alignment == .center ? pad / 2 : alignment == .right ? pad : 0
                    out += Array(repeating: 0x20, count: lead)
                    out += try Self.encode(piece, encoding: encoding, template: template, fields: fields)
                    out.append(0x0A)
                }
                if scale > 1 { out += ESCPOS.size(width: 1, height: 1) }
                if bold { out += ESCPOS.bold(false) }
            case .qr(let template):
                let text = try Self.fill(template, fields)
                if text.isEmpty { continue }
                out += ESCPOS.align(.center) + ESCPOS.qrCode(Array(text.utf8)) + [0x0A] + ESCPOS.align(.left)
            case .rule:
                out += Array(repeating: UInt8(ascii: "-"), count: paper.columns) + [0x0A]
            case .feed(let n):
                out += [0x1B, 0x64, UInt8(n)]
            case .cut:
                out += ESCPOS.partialCut
            }
        }
        return out
    }

    /// Text in the printer's encoding; non-ASCII runs between `FS &` and `FS .`.
    static func encode(_ text: String, encoding: TextEncoding, template: String, fields: TicketFields) throws(RenderError) -> [UInt8] {
        var out: [UInt8] = []
        var chinese = false
        for c in text {
            if c.isASCII {
                if chinese { out += ESCPOS.chineseOff; chinese = false }
                out += Array(String(c).utf8)
                continue
            }
            if !chinese { out += ESCPOS.chineseOn; chinese = true }
            do {
                out += try encoding.encode(String(c))
            } catch {
                // Name the field the character came from, for the API's error.
                let field = fields.values.first { $0.value.contains(c) }.map { "ticket.\($0.key)" } ?? "ticket_template"
                let origin = field == "ticket_template" ? " (template line \"\(template)\")" : ""
                throw RenderError(field: field, message: "'\(c)' (U+\(String(c.unicodeScalars.first!.value, radix: 16, uppercase: true))) cannot be printed in \(encoding.rawValue)\(origin)")
            }
        }
        if chinese { out += ESCPOS.chineseOff }
        return out
    }
}

extension Substring {
    var trimmed: String {
        String(drop { $0 == " " || $0 == "\t" }.reversed().drop { $0 == " " || $0 == "\t" }.reversed())
    }
}
