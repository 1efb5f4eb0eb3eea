import DeviceKit
import Foundation
import HallConfiguration
import HallAPI
import HallAPIModels
import WireProtocols

/// Every decoder that reads bytes from outside, as one function per fuzz target.
/// `hall-fuzz` drives them with libFuzzer (`make fuzz`); the test suite replays the
/// committed corpora and every input that once failed. A target returns normally
/// for any input; it throws `FuzzFailure` when an invariant breaks (a frame that
/// does not survive encode/decode, an error without its location), and a crash is
/// a crash.
public enum FuzzTarget: String, CaseIterable, Sendable {
    case hallbus, profile, modbus, escpos, config, api, wav

    public func run(_ data: [UInt8]) throws(FuzzFailure) {
        switch self {
        case .hallbus: try Self.frames(data, profile: .hallBus)
        case .profile:
            guard let first = data.first else { return }
            try Self.frames(Array(data.dropFirst()), profile: Self.profiles[Int(first) % Self.profiles.count])
        case .modbus: try Self.modbus(data)
        case .escpos: try Self.escpos(data)
        case .config: try Self.config(data)
        case .api: try Self.api(data)
        case .wav: try Self.wav(data)
        }
    }

    /// Profiles with each kind of layout a vendor writes: hall-bus, a doubled
    /// length with a sum (`68 L L 68 … CS 16`), two-byte fields with a CRC, and a
    /// little-endian length that counts the whole frame.
    static let profiles: [FrameProfile] = [
        .hallBus,
        FrameProfile(
            name: "dl645", preamble: [0xFE], layout: [.constant([0x68]), .length, .length, .constant([0x68]), .address, .command, .payload, .checksum, .constant([0x16])],
            lengthCounts: [.address, .command, .payload], checksum: .sum8, checksumCovers: [.address, .command, .payload]),
        FrameProfile(
            name: "wide", layout: [.constant([0xAA, 0x55]), .address, .command, .length, .payload, .checksum], addressWidth: 2, commandWidth: 2, lengthWidth: 2,
            checksum: .crc16modbus, checksumCovers: [.address, .command, .length, .payload], encoding: .gb18030),
        FrameProfile(
            name: "stx", layout: [.constant([0x02]), .length, .address, .command, .payload, .checksum, .constant([0x03])], lengthWidth: 2, lengthBigEndian: false,
            lengthCounts: [.length, .address, .command, .payload, .checksum], lengthAdjust: 2, checksum: .xor8, checksumCovers: [.address, .command, .payload],
            encoding: .utf8, maxPayload: 64),
    ]

    /// The first byte picks how the input is cut into reads (serial lines deliver any
    /// chunking); every frame found must encode back to bytes that decode to itself.
    static func frames(_ data: [UInt8], profile: FrameProfile) throws(FuzzFailure) {
        guard let first = data.first else { return }
        let chunk = Int(first % 16) + 1
        var decoder = FrameDecoder(profile: profile)
        var frames: [Frame] = []
        var index = 1
        while index < data.count {
            let end = min(index + chunk, data.count)
            for event in decoder.feed(data[index..<end]) {
                switch event {
                case .message(let frame): frames.append(frame)
                case .garbage(let bytes, let offset, let reason):
                    if bytes.isEmpty || reason.isEmpty || offset < 0 || offset >= data.count {
                        throw FuzzFailure("garbage event without its bytes, offset or reason: \(bytes) @\(offset) '\(reason)'")
                    }
                default: break
                }
            }
            index = end
        }
        for frame in frames {
            var again = FrameDecoder(profile: profile)
            let decoded = again.feed(profile.encode(frame)).compactMap { if case .message(let f) = $0 { f } else { nil } }
            guard decoded == [frame] else { throw FuzzFailure("\(profile.name): \(frame) re-encoded decodes as \(decoded)") }
        }
    }

    /// The server side (requests, as hall-sim reads them) and the client side
    /// (answers to a read of 4 holding registers and to a register write).
    static func modbus(_ data: [UInt8]) throws(FuzzFailure) {
        var server = ModbusRequestDecoder()
        for request in server.feed(data) {
            var again = ModbusRequestDecoder()
            guard again.feed(request.encode()) == [request] else { throw FuzzFailure("request \(request) does not survive encode/decode") }
        }
        for request in [ModbusRequest.readHolding(unit: 1, address: 0, count: 4), .readInput(unit: 7, address: 16, count: 2)] {
            var reader = ModbusResponseReader(request: request)
            var rest = data[...]
            while !rest.isEmpty {
                let n = min(rest.count, 5)
                _ = reader.consume(Array(rest.prefix(n)))
                rest = rest.dropFirst(n)
            }
            for note in reader.noise where !note.contains("offset") { throw FuzzFailure("noise note without its offset: \(note)") }
        }
    }

    /// Template lines from configuration (one per input line) rendered with fields
    /// that may hold any text; errors name the line or the field.
    /// A speaker's clip: read, or refused at a byte inside the file with a reason; what
    /// is read survives writing and reading again.
    static func wav(_ data: [UInt8]) throws(FuzzFailure) {
        let audio: PCMAudio
        do {
            audio = try WAV.decode(Data(data))
        } catch let error as WAVError {
            guard error.offset >= 0, error.offset <= data.count, !error.message.isEmpty else { throw FuzzFailure("WAV error without its place: \(error)") }
            return
        } catch {
            throw FuzzFailure("unexpected error \(error)")
        }
        guard let again = try? WAV.decode(WAV.encode(audio)), again == audio else { throw FuzzFailure("a clip read does not survive writing it again") }
    }

    static func escpos(_ data: [UInt8]) throws(FuzzFailure) {
        let text = String(decoding: data, as: UTF8.self)
        let parts = text.split(separator: "\u{0}", maxSplits: 1, omittingEmptySubsequences: false)
        let lines = parts[0].split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let value = parts.count > 1 ? String(parts[1]) : "A012"
        let template: TicketTemplate
        do {
            template = try TicketTemplate(parsing: lines)
        } catch {
            guard error.index >= 0, error.index < max(lines.count, 1), !error.message.isEmpty else { throw FuzzFailure("parse error without its line: \(error)") }
            return
        }
        let fields = TicketFields(["number": value, "service": value, "hall": value, "time": "2026-11-30 08:00", "id": value, "notice": value, "waitingAhead": "3"])
        for paper in ESCPOS.Paper.allCases {
            for encoding in [TextEncoding.gb18030, .gbk, .ascii] {
                do {
                    let bytes = try template.render(fields, paper: paper, encoding: encoding)
                    guard bytes.starts(with: ESCPOS.initialize) else { throw FuzzFailure("ticket does not start with ESC @") }
                } catch let error as TicketTemplate.RenderError {
                    guard error.field.hasPrefix("ticket") else { throw FuzzFailure("render error without its field: \(error)") }
                } catch let failure as FuzzFailure {
                    throw failure
                } catch {
                    throw FuzzFailure("unexpected error \(error)")
                }
            }
        }
    }

    /// halld.toml as anyone might write it: either a configuration or an error
    /// naming the file and what is wrong.
    static func config(_ data: [UInt8]) throws(FuzzFailure) {
        do {
            _ = try HallConfig.parse(String(decoding: data, as: UTF8.self), file: "fuzz.toml")
        } catch let error as ConfigError {
            guard error.description.contains("fuzz.toml") else { throw FuzzFailure("config error without the file: \(error)") }
        } catch {
            throw FuzzFailure("config parse threw something other than ConfigError: \(type(of: error)) \(error)")
        }
    }

    /// Request bodies: each request type read as the API reads it (unknown fields
    /// found from the type); every refusal is a 400 naming what is wrong.
    static func api(_ data: [UInt8]) throws(FuzzFailure) {
        let body = Data(data)
        func attempt<T: Codable>(_ requestType: T.Type) throws(FuzzFailure) {
            do {
                _ = try StrictJSON.decode(requestType, from: body)
            } catch let error as APIError {
                guard error.status.code == 400 else { throw FuzzFailure("\(T.self): status \(error.status.code) for a bad body") }
            } catch is DecodingError {
                // Answered 400 with the field's path by the API's error middleware.
            } catch {
                throw FuzzFailure("\(T.self): unexpected error \(type(of: error)) \(error)")
            }
        }
        try attempt(IssueRequest.self)
        try attempt(TicketPrintRequest.self)
        try attempt(DisplayContent.self)
        try attempt(RatingRequest.self)
        try attempt(ScanJobRequest.self)
        try attempt(AppointmentRequest.self)
        try attempt(TransferRequest.self)
        try attempt(FaultRequest.self)
        try attempt(ClerkCard.self)
        try attempt(WindowStatusRequest.self)
    }
}

public struct FuzzFailure: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// Seed inputs made by the encoders themselves, so the fuzzer starts from the
/// shapes real devices and clients send (`hall-fuzz seed FOLDER` writes them).
extension FuzzTarget {
    public func seeds(configFiles: [String: String] = [:]) -> [String: [UInt8]] {
        switch self {
        case .hallbus:
            let p = FrameProfile.hallBus
            return [
                "poll": [0] + p.encode(Frame(address: 1, command: 0x01)),
                "show-gb2312": [3] + p.encode(Frame(address: 2, command: 0x10, payload: Array("A012 请到1号窗口".utf8))),
                "rating-with-noise": [7, 0x00, 0xFF, 0x13] + p.encode(Frame(address: 3, command: 0x21, payload: [4])) + [0xAA],
                "two-frames": [1] + p.encode(Frame(address: 1, command: 0x81)) + p.encode(Frame(address: 2, command: 0x82, payload: [1, 2, 3])),
            ]
        case .profile:
            var out: [String: [UInt8]] = [:]
            for (i, p) in Self.profiles.enumerated() {
                let frame = Frame(address: 5, command: 0x11, payload: [0x41, 0x30, 0x31, 0x32])
                out["\(p.name)"] = [UInt8(i), 2] + p.preamble + p.encode(frame)
                out["\(p.name)-cut"] = [UInt8(i), 0] + Array(p.encode(frame).dropLast()) + p.encode(Frame(address: 1, command: 1))
            }
            return out
        case .modbus:
            return [
                "read-holding": ModbusRequest.readHolding(unit: 1, address: 0, count: 4).encode(),
                "write-registers": ModbusRequest.writeRegisters(unit: 2, address: 16, values: [0x4130, 0x3132]).encode(),
                "answer-4-registers": [1, 3, 8, 0, 1, 0, 2, 0, 3, 0, 4] + ChecksumAlgorithm.crc16modbus.wire([1, 3, 8, 0, 1, 0, 2, 0, 3, 0, 4]),
                "exception": [1, 0x83, 2] + ChecksumAlgorithm.crc16modbus.wire([1, 0x83, 2]),
            ]
        case .escpos:
            return [
                "standard": Array(TicketTemplate.standardLines.joined(separator: "\n").utf8) + [0] + Array("A012".utf8),
                "wide-cjk": Array("center,x2: {hall}\nleft: 窗口 {window}\nqr: {id}\ncut".utf8) + [0] + Array("城关镇便民服务中心".utf8),
                "bad-field": Array("center: {nope}\nfeed 9".utf8),
            ]
        case .config:
            return configFiles.mapValues { Array($0.utf8) }
        case .wav:
            let mono = [UInt8](WAV.encode(PCMAudio(sampleRate: 16_000, samples: [0, 1000, -1000, 32767, -32768, 7])))
            var stereo = mono
            stereo[22] = 2
            return ["mono": mono, "stereo": stereo, "truncated": Array(mono.prefix(40))]
        case .api:
            return [
                "issue": Array(#"{"service":"A","priority":"green"}"#.utf8),
                "ticket": Array(#"{"ticket":{"number":"A012","service":"社保","waitingAhead":3}}"#.utf8),
                "display": Array(#"{"lines":["A012 请到1号窗口"],"effect":"flash"}"#.utf8),
                "rating": Array(#"{"level":5,"ticket":"t-1"}"#.utf8),
                "scan": Array(#"{"source":"adf","resolution":300,"mode":"color","format":"pdf"}"#.utf8),
                "appointment": Array(#"{"service":"B","slot":"2026-11-30T09:30:00Z","name":"张三"}"#.utf8),
                "deep": Array((String(repeating: "[", count: 600) + String(repeating: "]", count: 600)).utf8),
            ]
        }
    }
}
