public enum DisplayEffect: String, Sendable, Codable, CaseIterable { case `static`, scroll, flash }

/// What a display shows: lines of text, an effect, and for how long (nil: until replaced).
public struct DisplayContent: Sendable, Codable, Equatable {
    public var lines: [String]
    public var effect: DisplayEffect
    public var seconds: Int?

    public init(lines: [String], effect: DisplayEffect = .static, seconds: Int? = nil) {
        self.lines = lines
        self.effect = effect
        self.seconds = seconds
    }

    enum CodingKeys: String, CodingKey { case lines, effect, seconds }

    /// `effect` may be left out: static.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        lines = try c.decode([String].self, forKey: .lines)
        effect = try c.decodeIfPresent(DisplayEffect.self, forKey: .effect) ?? .static
        seconds = try c.decodeIfPresent(Int.self, forKey: .seconds)
    }
}

extension DisplayContent {
    /// Lines must fit the display; a line wider than the display must scroll.
    public func validate(lines maxLines: Int, columns: Int, device: DeviceID) throws {
        if lines.count > maxLines {
            throw DeviceError(.invalidData, "lines: \(lines.count) lines given, \(device) shows \(maxLines)", device: device)
        }
        if effect != .scroll {
            for (i, line) in lines.enumerated() where displayColumns(line) > columns {
                throw DeviceError(.invalidData, "lines[\(i)]: \(displayColumns(line)) columns wide, \(device) shows \(columns); use effect scroll", device: device)
            }
        }
    }

    /// The effect as one byte on the wire: 0 static, 1 scroll, 2 flash.
    public var effectCode: UInt8 {
        switch effect {
        case .static: 0
        case .scroll: 1
        case .flash: 2
        }
    }
}

/// Display width of text with CJK (and other East Asian wide) characters counted as
/// two columns, as LED modules and thermal printers lay them out. The one width table
/// of halld: displays, ESC/POS tickets and hallctl's tables all count with it.
public func displayColumns(_ text: some StringProtocol) -> Int {
    text.reduce(0) { $0 + displayColumns($1) }
}

/// Columns of one character as the reader sees it: its first scalar decides, so a
/// combining mark adds nothing to the letter it sits on.
public func displayColumns(_ c: Character) -> Int {
    guard let first = c.unicodeScalars.first else { return 0 }
    return isWide(first) ? 2 : 1
}

private func isWide(_ s: Unicode.Scalar) -> Bool {
    switch s.value {
    case 0x1100...0x115F, 0x2E80...0x303E, 0x3041...0x33FF, 0x3400...0x4DBF, 0x4E00...0x9FFF,
        0xA000...0xA4CF, 0xAC00...0xD7A3, 0xF900...0xFAFF, 0xFE30...0xFE4F, 0xFF00...0xFF60,
        0xFFE0...0xFFE6, 0x20000...0x3FFFD:
        true
    default:
        false
    }
}

/// A queue-number display (window display or the hall's main display).
public protocol QueueDisplay: Device {
    /// Shows `content`, replacing what was shown. Throws `invalidData` naming the
    /// line that does not fit.
    func show(_ content: DisplayContent) async throws
    /// What is shown now.
    func content() async -> DisplayContent?
}
