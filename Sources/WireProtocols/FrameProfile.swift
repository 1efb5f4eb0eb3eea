/// A frame layout declared in configuration, so a vendor's display or keypad is
/// added by writing a profile, not code. Hall-bus is one such profile (`hallBus`).
///
/// The layout is the order of the parts on the wire. Constants are literal bytes
/// (headers, separators, trailers); `length` may appear twice (repeated, as in
/// `68 L L 68`); the checksum covers the parts listed in `checksumCovers`.
public struct FrameProfile: Sendable, Equatable {
    public enum Element: Sendable, Equatable, CustomStringConvertible {
        case constant([UInt8])
        case length, address, command, payload, checksum

        public var description: String {
            switch self {
            case .constant(let b): hex(b)
            case .length: "length"
            case .address: "address"
            case .command: "command"
            case .payload: "payload"
            case .checksum: "checksum"
            }
        }
    }

    /// Parts a length field counts or a checksum covers.
    public enum Part: String, Sendable, CaseIterable, Codable {
        case length, address, command, payload, checksum
    }

    public var name: String
    /// Bytes sent before each frame (wake-up bytes such as `FF`); skipped quietly when read.
    public var preamble: [UInt8]
    public var layout: [Element]
    public var addressWidth: Int
    public var commandWidth: Int
    public var lengthWidth: Int
    public var lengthBigEndian: Bool
    /// What the length field counts, plus `lengthAdjust`.
    public var lengthCounts: Set<Part>
    public var lengthAdjust: Int
    public var checksum: ChecksumAlgorithm?
    public var checksumCovers: Set<Part>
    /// How display text is written into the payload.
    public var encoding: TextEncoding
    public var maxPayload: Int

    public init(
        name: String, preamble: [UInt8] = [], layout: [Element], addressWidth: Int = 1, commandWidth: Int = 1, lengthWidth: Int = 1,
        lengthBigEndian: Bool = true, lengthCounts: Set<Part> = [.payload], lengthAdjust: Int = 0, checksum: ChecksumAlgorithm? = nil,
        checksumCovers: Set<Part> = [], encoding: TextEncoding = .gb2312, maxPayload: Int = 512
    ) {
        self.name = name
        self.preamble = preamble
        self.layout = layout
        self.addressWidth = addressWidth
        self.commandWidth = commandWidth
        self.lengthWidth = lengthWidth
        self.lengthBigEndian = lengthBigEndian
        self.lengthCounts = lengthCounts
        self.lengthAdjust = lengthAdjust
        self.checksum = checksum
        self.checksumCovers = checksumCovers
        self.encoding = encoding
        self.maxPayload = maxPayload
    }

    /// `FF 68 L L 68 ADDR CMD DATA… CS 16`: L counts ADDR..DATA, CS = sum of ADDR..DATA mod 256.
    public static let hallBus = FrameProfile(
        name: "hallbus", preamble: [0xFF],
        layout: [.constant([0x68]), .length, .length, .constant([0x68]), .address, .command, .payload, .checksum, .constant([0x16])],
        lengthCounts: [.address, .command, .payload], checksum: .sum8, checksumCovers: [.address, .command, .payload], encoding: .gb2312,
        maxPayload: 250)

    /// A problem with the profile itself, found when it is read from configuration.
    public func validate() -> String? {
        let count = { (e: Element) in layout.filter { $0 == e }.count }
        if layout.isEmpty { return "layout is empty" }
        if count(.payload) != 1 { return "layout needs exactly one payload" }
        if count(.address) > 1 || count(.command) > 1 || count(.checksum) > 1 { return "address, command and checksum appear at most once" }
        if count(.length) > 2 { return "length appears at most twice (repeated)" }
        if count(.checksum) == 1 && checksum == nil { return "layout has a checksum but no checksum algorithm" }
        if count(.checksum) == 0 && checksum != nil { return "a checksum algorithm is set but the layout has no checksum" }
        if !(0...2).contains(addressWidth) || !(0...2).contains(commandWidth) { return "address and command widths are 0, 1 or 2" }
        if !(1...2).contains(lengthWidth) { return "length width is 1 or 2" }
        if count(.length) == 0 {
            guard let p = layout.firstIndex(of: .payload), layout[(p + 1)...].contains(where: { if case .constant = $0 { true } else { false } }) else {
                return "without a length field the payload must be followed by a constant trailer"
            }
        }
        if case .constant(let first)? = layout.first, first.isEmpty { return "a constant needs at least one byte" }
        guard case .constant = layout.first else { return "the layout must start with a constant header, to find frames in a stream" }
        return nil
    }

    func width(_ e: Element) -> Int {
        switch e {
        case .constant(let b): b.count
        case .length: lengthWidth
        case .address: addressWidth
        case .command: commandWidth
        case .checksum: checksum?.width ?? 0
        case .payload: 0
        }
    }

    /// What the length field counts besides the payload.
    var fixedCountedWidth: Int {
        lengthCounts.reduce(0) { sum, part in
            switch part {
            case .payload: sum
            case .length: sum + lengthWidth
            case .address: sum + addressWidth
            case .command: sum + commandWidth
            case .checksum: sum + (checksum?.width ?? 0)
            }
        }
    }

    static func part(_ e: Element) -> Part? {
        switch e {
        case .length: .length
        case .address: .address
        case .command: .command
        case .payload: .payload
        case .checksum: .checksum
        case .constant: nil
        }
    }
}

/// A frame's contents, whatever the profile.
public struct Frame: Sendable, Equatable, CustomStringConvertible {
    public var address: UInt16
    public var command: UInt16
    public var payload: [UInt8]

    public init(address: UInt16, command: UInt16, payload: [UInt8] = []) {
        self.address = address
        self.command = command
        self.payload = payload
    }

    public var description: String { "addr \(address) cmd \(hex([UInt8(command & 0xFF)])) [\(hex(payload))]" }
}

extension FrameProfile {
    /// The bytes of `frame` on the wire, preamble included.
    public func encode(_ frame: Frame) -> [UInt8] {
        func number(_ v: Int, _ width: Int, bigEndian: Bool = true) -> [UInt8] {
            let bytes = (0..<width).map { UInt8(truncatingIfNeeded: v >> (8 * $0)) }
            return bigEndian ? bytes.reversed() : bytes
        }
        let lengthValue = lengthAdjust + (lengthCounts.contains(.payload) ? frame.payload.count : 0) + fixedCountedWidth
        var out: [UInt8] = preamble
        var covered: [UInt8] = []
        for e in layout {
            var bytes: [UInt8]
            switch e {
            case .constant(let b): bytes = b
            case .length: bytes = number(lengthValue, lengthWidth, bigEndian: lengthBigEndian)
            case .address: bytes = number(Int(frame.address), addressWidth)
            case .command: bytes = number(Int(frame.command), commandWidth)
            case .payload: bytes = frame.payload
            case .checksum: bytes = checksum?.wire(covered) ?? []
            }
            if let p = Self.part(e), p != .checksum, checksumCovers.contains(p) { covered += bytes }
            out += bytes
        }
        return out
    }
}
