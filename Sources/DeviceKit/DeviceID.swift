/// The name a device has in configuration and in the API: `[a-z0-9-]`, 1 to 64
/// characters, starting with a letter or digit. Validated once, so every later
/// use (paths, URLs, log metadata) can trust it.
public struct DeviceID: Hashable, Sendable, Codable, CustomStringConvertible, Comparable {
    public let rawValue: String

    public init?(_ rawValue: String) {
        guard Self.isValid(rawValue) else { return nil }
        self.rawValue = rawValue
    }

    public static func isValid(_ s: String) -> Bool {
        guard (1...64).contains(s.utf8.count), s.utf8.first != UInt8(ascii: "-") else { return false }
        return s.utf8.allSatisfy { b in
            (b >= UInt8(ascii: "a") && b <= UInt8(ascii: "z")) || (b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9"))
                || b == UInt8(ascii: "-")
        }
    }

    public var description: String { rawValue }

    public static func < (a: DeviceID, b: DeviceID) -> Bool { a.rawValue < b.rawValue }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        let s = try c.decode(String.self)
        guard let id = DeviceID(s) else {
            throw DecodingError.dataCorruptedError(in: c, debugDescription: "'\(s)' is not a device id ([a-z0-9-], 1-64 characters)")
        }
        self = id
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(rawValue)
    }
}

/// The families of window hardware: the four of a window, and the hall's speakers.
public enum DeviceKind: String, Sendable, Codable, CaseIterable {
    case scanner, printer, keypad, display, speaker
}
