/// Checksums that serial devices put at the end of their frames.
public enum ChecksumAlgorithm: String, Sendable, CaseIterable, Codable {
    /// Sum of the bytes modulo 256 (hall-bus, DL/T 645).
    case sum8
    /// XOR of the bytes.
    case xor8
    /// CRC-16/MODBUS: poly 0xA001 reflected, init 0xFFFF; sent low byte first.
    case crc16modbus = "crc16-modbus"
    /// CRC-16/CCITT-FALSE: poly 0x1021, init 0xFFFF; sent high byte first.
    case crc16ccitt = "crc16-ccitt"

    /// Bytes the checksum takes on the wire.
    public var width: Int {
        switch self {
        case .sum8, .xor8: 1
        case .crc16modbus, .crc16ccitt: 2
        }
    }

    /// The checksum of `bytes`, as it appears on the wire.
    public func wire(_ bytes: some Collection<UInt8>) -> [UInt8] {
        switch self {
        case .sum8: return [bytes.reduce(0, &+)]
        case .xor8: return [bytes.reduce(0, ^)]
        case .crc16modbus:
            let crc = Self.crc16modbus(bytes)
            return [UInt8(crc & 0xFF), UInt8(crc >> 8)]
        case .crc16ccitt:
            let crc = Self.crc16ccitt(bytes)
            return [UInt8(crc >> 8), UInt8(crc & 0xFF)]
        }
    }

    public static func crc16modbus(_ bytes: some Collection<UInt8>) -> UInt16 {
        var crc: UInt16 = 0xFFFF
        for b in bytes {
            crc ^= UInt16(b)
            for _ in 0..<8 { crc = crc & 1 != 0 ? (crc >> 1) ^ 0xA001 : crc >> 1 }
        }
        return crc
    }

    public static func crc16ccitt(_ bytes: some Collection<UInt8>) -> UInt16 {
        var crc: UInt16 = 0xFFFF
        for b in bytes {
            crc ^= UInt16(b) << 8
            for _ in 0..<8 { crc = crc & 0x8000 != 0 ? (crc << 1) ^ 0x1021 : crc << 1 }
        }
        return crc
    }
}

/// Bytes as a technician reads them in a log: `FF 68 04 04 68`.
public func hex(_ bytes: some Sequence<UInt8>) -> String {
    bytes.map { String($0, radix: 16, uppercase: true).leftPadded(to: 2) }.joined(separator: " ")
}

extension String {
    func leftPadded(to n: Int) -> String { count >= n ? self : String(repeating: "0", count: n - count) + self }
}

/// Parses `FF 68 0A` or `ff680a` into bytes; nil when it is not hex.
public func parseHex(_ text: String) -> [UInt8]? {
    let digits = text.filter { !$0.isWhitespace }
    guard digits.count % 2 == 0 else { return nil }
    var out: [UInt8] = []
    var i = digits.startIndex
    while i < digits.endIndex {
        let j = digits.index(i, offsetBy: 2)
        guard let b = UInt8(digits[i..<j], radix: 16) else { return nil }
        out.append(b)
        i = j
    }
    return out
}
