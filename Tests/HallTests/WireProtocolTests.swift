import Testing

@testable import WireProtocols

@Suite("Wire protocols", .timeLimit(.minutes(3)))
struct WireProtocolTests {
    /// A deterministic generator, so a failing chunking can be reproduced.
    struct SplitMix: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    static func decodeAll(_ profile: FrameProfile, _ bytes: [UInt8], chunks: [Int]) -> [DecodeEvent<Frame>] {
        var decoder = FrameDecoder(profile: profile)
        var events: [DecodeEvent<Frame>] = []
        var i = 0, c = 0
        while i < bytes.count {
            let n = max(1, chunks.isEmpty ? 1 : chunks[c % chunks.count])
            events += decoder.feed(bytes[i..<min(bytes.count, i + n)])
            i += n
            c += 1
        }
        return events
    }

    static func frames(_ events: [DecodeEvent<Frame>]) -> [Frame] {
        events.compactMap { if case .message(let f) = $0 { f } else { nil } }
    }

    @Test("hall-bus frames have the documented bytes")
    func hallBusBytes() {
        #expect(HallBus.frame(to: 1, .evaluation, [HallBus.startEvaluation]) == [0xFF, 0x68, 0x03, 0x03, 0x68, 0x01, 0x01, 0x0B, 0x0D, 0x16])
        #expect(HallBus.frame(to: 0x12, .beep) == [0xFF, 0x68, 0x02, 0x02, 0x68, 0x12, 0x03, 0x15, 0x16])
        let answer = FrameProfile.hallBus.encode(Frame(address: 1, command: 0x11, payload: [0x02]))
        #expect(answer == [0xFF, 0x68, 0x03, 0x03, 0x68, 0x01, 0x11, 0x02, 0x14, 0x16])
    }

    @Test("checksums match their reference check values")
    func checksums() {
        let check = Array("123456789".utf8)
        #expect(ChecksumAlgorithm.crc16modbus(check) == 0x4B37)
        #expect(ChecksumAlgorithm.crc16ccitt(check) == 0x29B1)
        #expect(ChecksumAlgorithm.sum8.wire([0xFF, 0x02]) == [0x01])
        #expect(ChecksumAlgorithm.xor8.wire([0x0F, 0xF0, 0x01]) == [0xFE])
        #expect(ChecksumAlgorithm.crc16modbus.wire([0x01, 0x03, 0x00, 0x00, 0x00, 0x0A]) == [0xC5, 0xCD])
    }

    @Test("frames decode the same whatever the chunking", arguments: [[1], [2, 3], [7], [64], [1, 5, 2, 9]])
    func chunking(_ chunks: [Int]) {
        let sent = [
            Frame(address: 1, command: 0x11, payload: [0x02]), Frame(address: 3, command: 0x0C),
            Frame(address: 2, command: 0x02, payload: try! TextEncoding.gb2312.encode("A012 请到3号窗口")),
        ]
        let stream = sent.flatMap { FrameProfile.hallBus.encode($0) }
        let events = Self.decodeAll(.hallBus, stream, chunks: chunks)
        #expect(Self.frames(events) == sent)
        #expect(events.count == sent.count, "the FF preamble is not noise")
    }

    @Test("garbage, bad checksums and truncated frames are reported with offsets, and decoding resynchronises")
    func resync() {
        let good = FrameProfile.hallBus.encode(Frame(address: 5, command: 0x11, payload: [0x01]))
        var badChecksum = good
        badChecksum[8] ^= 0xFF
        let truncated = Array(good.prefix(6))
        let noise: [UInt8] = [0x00, 0x68, 0x68, 0x99]
        let stream = noise + good + badChecksum + truncated + good
        let events = Self.decodeAll(.hallBus, stream, chunks: [1])
        #expect(Self.frames(events) == [Frame(address: 5, command: 0x11, payload: [0x01]), Frame(address: 5, command: 0x11, payload: [0x01])])
        let garbage = events.compactMap { if case .garbage(let b, let o, let r) = $0 { (b, o, r) } else { nil } }
        #expect(garbage.first?.1 == 0)
        #expect(Array(garbage.filter { $0.1 < noise.count }.flatMap(\.0).prefix(noise.count)) == noise, "the noise is reported byte for byte, at its offsets")
        #expect(garbage.contains { $0.2.hasPrefix("checksum") && $0.1 == noise.count + good.count + 1 })
        let dropped = garbage.map(\.0.count).reduce(0, +)
        let preambles = 3  // the FF before each frame that decoded or was dropped whole
        #expect(dropped + 2 * (good.count - 1) + preambles - 1 == stream.count, "every byte is either a frame, a preamble or reported")
    }

    @Test("random garbage never traps and frames around it are found", arguments: [1, 2, 3, 4, 5, 6, 7, 8])
    func fuzz(_ seed: UInt64) {
        var rng = SplitMix(state: seed)
        let frame = Frame(address: 7, command: 0x02, payload: Array("ok".utf8))
        let wire = FrameProfile.hallBus.encode(frame)
        var stream: [UInt8] = []
        for _ in 0..<20 {
            stream += (0..<Int.random(in: 0...40, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            stream += wire
        }
        let chunks = (0..<10).map { _ in Int.random(in: 1...32, using: &rng) }
        let found = Self.frames(Self.decodeAll(.hallBus, stream, chunks: chunks))
        #expect(found.filter { $0 == frame }.count >= 20)
        for profile in [FrameProfile.hallBus, Self.vendorDisplay] {
            let noise = (0..<4000).map { _ in UInt8.random(in: 0...255, using: &rng) }
            _ = Self.decodeAll(profile, noise, chunks: chunks)
        }
    }

    /// A vendor LED display: `AA 55` header, 2-byte big-endian length of the payload,
    /// address, command, ASCII/GB2312 payload, CRC-16/MODBUS over address..payload, `0D`.
    static let vendorDisplay = FrameProfile(
        name: "led-vendor", layout: [.constant([0xAA, 0x55]), .length, .address, .command, .payload, .checksum, .constant([0x0D])],
        lengthWidth: 2, lengthCounts: [.payload], checksum: .crc16modbus, checksumCovers: [.address, .command, .payload])

    /// A display with no length field: `02` … payload … xor8 `03`.
    static let stxEtx = FrameProfile(
        name: "stx-etx", layout: [.constant([0x02]), .address, .payload, .checksum, .constant([0x03])], commandWidth: 0, checksum: .xor8,
        checksumCovers: [.address, .payload])

    @Test("profiles from configuration: 2-byte length and CRC, or no length and a trailer")
    func profiles() {
        #expect(Self.vendorDisplay.validate() == nil)
        #expect(Self.stxEtx.validate() == nil)
        #expect(FrameProfile.hallBus.validate() == nil)
        let text = try! TextEncoding.gb2312.encode("请到3号")
        for profile in [Self.vendorDisplay, Self.stxEtx] {
            // An STX/ETX payload cannot hold its trailer (03); a length-framed one can.
            let second: [UInt8] = profile.name == "stx-etx" ? Array("A12".utf8) : [0x03, 0x16, 0x0D]
            let command: UInt16 = profile.commandWidth == 0 ? 0 : 0x31
            let frames = [Frame(address: 2, command: command, payload: text), Frame(address: 2, command: command, payload: second)]
            let wire = frames.flatMap(profile.encode)
            #expect(Self.frames(Self.decodeAll(profile, wire, chunks: [1])) == frames, "\(profile.name)")
            #expect(Self.frames(Self.decodeAll(profile, [0x55, 0x02, 0xAA] + wire, chunks: [3])) == frames, "\(profile.name) after noise")
        }
        let wire = Self.vendorDisplay.encode(Frame(address: 1, command: 0x31, payload: [0x41]))
        #expect(Array(wire.prefix(4)) == [0xAA, 0x55, 0x00, 0x01])
        var broken = FrameProfile.hallBus
        broken.layout = [.length, .payload]
        #expect(broken.validate() != nil)
    }

    @Test("text encodings name what they cannot write")
    func text() throws {
        #expect(try TextEncoding.gb2312.encode("请") == [0xC7, 0xEB])
        #expect(try TextEncoding.gb18030.encode("A012") == Array("A012".utf8))
        #expect(TextEncoding.gb2312.decode([0xC7, 0xEB]) == "请")
        #expect(throws: TextEncoding.Unencodable(character: "请", offset: 1, encoding: .ascii)) { try TextEncoding.ascii.encode("A请") }
        #expect(throws: TextEncoding.Unencodable.self) { try TextEncoding.gb2312.encode("😀") }
        #expect(try TextEncoding.gb18030.encode("😀").count == 4)
        #expect(parseHex("FF 68 0a") == [0xFF, 0x68, 0x0A])
        #expect(hex([0xFF, 0x0A]) == "FF 0A")
    }
}
