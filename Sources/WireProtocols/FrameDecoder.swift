/// What a decoder found in the byte stream.
public enum DecodeEvent<Message: Sendable & Equatable>: Sendable, Equatable {
    case message(Message)
    /// Bytes that were not part of a valid frame, with their offset in the stream
    /// and why they were dropped: for counting and for a log line in hex.
    case garbage(bytes: [UInt8], offset: Int, reason: String)
}

/// Finds frames of a profile in a byte stream taken in any chunking. On a bad
/// header, length, checksum or trailer it drops one byte and looks again, so it
/// resynchronises after noise; it never traps and never holds more than one
/// maximum frame of bytes.
public struct FrameDecoder: Sendable {
    public let profile: FrameProfile
    private var buffer: [UInt8] = []
    /// Stream offset of `buffer[0]`.
    private var offset = 0
    private var pendingGarbage: (bytes: [UInt8], offset: Int, reason: String)?

    public init(profile: FrameProfile) {
        self.profile = profile
    }

    enum Attempt { case frame(Frame, consumed: Int), needMore, invalid(String) }

    public mutating func feed(_ bytes: some Sequence<UInt8>) -> [DecodeEvent<Frame>] {
        buffer.append(contentsOf: bytes)
        var events: [DecodeEvent<Frame>] = []
        while !buffer.isEmpty {
            // Wake-up bytes between frames are expected, not noise.
            if profile.preamble.contains(buffer[0]), !startsHeader(buffer) {
                drop(1)
                continue
            }
            switch attempt(buffer) {
            case .frame(let frame, let consumed):
                flushGarbage(into: &events)
                events.append(.message(frame))
                drop(consumed)
            case .needMore:
                return events
            case .invalid(let reason):
                let skip = nextCandidate()
                let dropped = Array(buffer[0..<skip])
                if var g = pendingGarbage, g.offset + g.bytes.count == offset {
                    g.bytes += dropped
                    pendingGarbage = g
                } else {
                    flushGarbage(into: &events)
                    pendingGarbage = (dropped, offset, reason)
                }
                drop(skip)
            }
        }
        flushGarbage(into: &events)
        return events
    }

    /// Noise still held at the end of the input is reported once no frame can start there.
    private mutating func flushGarbage(into events: inout [DecodeEvent<Frame>]) {
        if let g = pendingGarbage { events.append(.garbage(bytes: g.bytes, offset: g.offset, reason: g.reason)) }
        pendingGarbage = nil
    }

    private mutating func drop(_ n: Int) {
        buffer.removeFirst(n)
        offset += n
    }

    private func startsHeader(_ b: [UInt8]) -> Bool {
        guard case .constant(let header) = profile.layout.first else { return false }
        return b.starts(with: header.prefix(b.count))
    }

    /// Where the next frame could start: the next byte that begins the header.
    private func nextCandidate() -> Int {
        guard case .constant(let header) = profile.layout.first, let first = header.first else { return 1 }
        return buffer.dropFirst().firstIndex(of: first) ?? buffer.count
    }

    func attempt(_ b: [UInt8]) -> Attempt {
        var pos = 0
        var lengthValue: Int?
        var address = 0, command = 0
        var payload: [UInt8] = []
        var covered: [UInt8] = []
        let layout = profile.layout
        func read(_ width: Int) -> [UInt8]? { pos + width <= b.count ? Array(b[pos..<pos + width]) : nil }
        func number(_ bytes: [UInt8], bigEndian: Bool = true) -> Int {
            (bigEndian ? bytes : bytes.reversed()).reduce(0) { $0 << 8 | Int($1) }
        }
        for (index, element) in layout.enumerated() {
            let part = FrameProfile.part(element)
            var bytes: [UInt8]
            switch element {
            case .constant(let expected):
                guard let got = read(expected.count) else { return .needMore }
                guard got == expected else { return .invalid("expected \(hex(expected)) at +\(pos), found \(hex(got))") }
                bytes = got
            case .length:
                guard let got = read(profile.lengthWidth) else { return .needMore }
                let v = number(got, bigEndian: profile.lengthBigEndian)
                if let previous = lengthValue, previous != v { return .invalid("repeated length differs: \(previous) then \(v) at +\(pos)") }
                lengthValue = v
                bytes = got
            case .address:
                guard let got = read(profile.addressWidth) else { return .needMore }
                address = number(got)
                bytes = got
            case .command:
                guard let got = read(profile.commandWidth) else { return .needMore }
                command = number(got)
                bytes = got
            case .payload:
                if let lengthValue {
                    let n = lengthValue - profile.lengthAdjust - profile.fixedCountedWidth
                    guard profile.lengthCounts.contains(.payload), (0...profile.maxPayload).contains(n) else {
                        return .invalid("length \(lengthValue) at +\(pos) gives a payload of \(n) bytes (0 to \(profile.maxPayload) allowed)")
                    }
                    guard let got = read(n) else { return .needMore }
                    bytes = got
                } else {
                    // No length field: the payload runs to the trailer, where the checksum (if any) agrees.
                    switch findTrailer(b, from: pos, after: index, covered: covered) {
                    case .found(let n): bytes = Array(b[pos..<pos + n])
                    case .needMore: return .needMore
                    case .none: return .invalid("no trailer within \(profile.maxPayload) bytes after +\(pos)")
                    }
                }
                payload = bytes
            case .checksum:
                guard let algorithm = profile.checksum, let got = read(algorithm.width) else { return .needMore }
                let computed = algorithm.wire(covered)
                guard got == computed else { return .invalid("checksum \(hex(got)) at +\(pos), computed \(hex(computed))") }
                bytes = got
            }
            if let part, part != .checksum, profile.checksumCovers.contains(part) { covered += bytes }
            pos += bytes.count
        }
        return .frame(Frame(address: UInt16(truncatingIfNeeded: address), command: UInt16(truncatingIfNeeded: command), payload: payload), consumed: pos)
    }

    enum TrailerSearch { case found(Int), needMore, none }

    /// The payload runs to the first place where the constants after it match (as in
    /// STX…ETX protocols, whose payload cannot hold the trailer); the checksum there
    /// decides. Deciding at the first match keeps a noise byte from stalling the stream.
    private func findTrailer(_ b: [UInt8], from start: Int, after index: Int, covered: [UInt8]) -> TrailerSearch {
        let rest = profile.layout[(index + 1)...]
        let tailWidth = rest.map(profile.width).reduce(0, +)
        var n = 0
        while n <= profile.maxPayload {
            if start + n + tailWidth > b.count { return .needMore }
            var pos = start + n
            var constantsMatch = true
            for element in rest {
                let w = profile.width(element)
                if case .constant(let c) = element, Array(b[pos..<pos + w]) != c { constantsMatch = false }
                pos += w
            }
            if constantsMatch { return .found(n) }
            n += 1
        }
        return .none
    }
}
