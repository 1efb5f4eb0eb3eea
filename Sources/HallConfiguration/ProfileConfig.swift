import WireProtocols

/// A `[[profile]]` table: a vendor's frame layout and what its commands mean.
/// Devices name it with `driver = "profile"` and `profile = "NAME"`; the built-in
/// `hallbus` profile needs no table.
public struct ProfileConfig: Sendable, Equatable {
    public var frame: FrameProfile
    public var commands: FrameCommands

    public static let hallBus = ProfileConfig(frame: .hallBus, commands: .hallBus)

    static func read(_ t: inout TableReader) throws -> ProfileConfig {
        guard let name = try t.string("name"), !name.isEmpty else { throw t.error("name", "required: the name devices use in `profile = \"…\"`") }
        guard let words = try t.strings("layout"), !words.isEmpty else {
            throw t.error("layout", "required: the parts in wire order, e.g. [\"68\", \"length\", \"length\", \"68\", \"address\", \"command\", \"payload\", \"checksum\", \"16\"]")
        }
        let layout: [FrameProfile.Element] = try words.enumerated().map { i, word in
            if let part = FrameProfile.Part(rawValue: word) {
                switch part {
                case .length: return .length
                case .address: return .address
                case .command: return .command
                case .payload: return .payload
                case .checksum: return .checksum
                }
            }
            guard let bytes = parseHex(word), !bytes.isEmpty else {
                throw t.error("layout[\(i)]", "expected length, address, command, payload, checksum or constant bytes in hex, found \"\(word)\"")
            }
            return .constant(bytes)
        }
        func parts(_ key: String) throws -> Set<FrameProfile.Part>? {
            guard let words = try t.strings(key) else { return nil }
            return Set(try words.enumerated().map { i, w in
                guard let p = FrameProfile.Part(rawValue: w) else {
                    throw t.error("\(key)[\(i)]", "expected one of \(FrameProfile.Part.allCases.map(\.rawValue).joined(separator: ", ")), found \"\(w)\"")
                }
                return p
            })
        }
        let checksumNames = ChecksumAlgorithm.allCases.map(\.rawValue) + ["none"]
        let checksum = try t.string("checksum", oneOf: checksumNames).flatMap(ChecksumAlgorithm.init(rawValue:))
        let encoding = TextEncoding(rawValue: try t.string("encoding", oneOf: TextEncoding.allCases.map(\.rawValue)) ?? TextEncoding.gb2312.rawValue)!
        let frame = FrameProfile(
            name: name, preamble: try t.bytes("preamble") ?? [], layout: layout, addressWidth: try t.int("address_width", in: 0...2) ?? 1,
            commandWidth: try t.int("command_width", in: 0...2) ?? 1, lengthWidth: try t.int("length_width", in: 1...2) ?? 1,
            lengthBigEndian: try t.bool("length_big_endian") ?? true, lengthCounts: try parts("length_counts") ?? [.payload],
            lengthAdjust: try t.int("length_adjust", in: -16...16) ?? 0, checksum: checksum, checksumCovers: try parts("checksum_covers") ?? [],
            encoding: encoding, maxPayload: try t.int("max_payload", in: 1...4096) ?? 250)
        if let problem = frame.validate() { throw t.error("layout", problem) }

        let limit = 0...65535
        func command(_ key: String, _ fallback: UInt16) throws -> UInt16 { UInt16(try t.int(key, in: limit) ?? Int(fallback)) }
        let h = FrameCommands.hallBus
        // beep = -1: the device has no beep command.
        let beep: UInt16? = try t.int("beep", in: -1...65535).map { $0 < 0 ? nil : UInt16($0) } ?? h.beep
        var commands = FrameCommands(
            poll: try command("poll", h.poll), idle: try command("idle", h.idle), show: try command("show", h.show),
            effectCodes: try t.ints("effect_codes", in: 0...255)?.map(UInt8.init) ?? h.effectCodes,
            lineSeparator: try t.bytes("line_separator") ?? h.lineSeparator, evaluate: try command("evaluate", h.evaluate),
            evaluateData: try t.bytes("evaluate_data") ?? h.evaluateData, rating: try command("rating", h.rating),
            beep: beep, keys: h.keys)
        if var table = try t.table("caller_keys") {
            commands.keys = [:]
            for key in table.keys { commands.keys[key] = UInt16(try table.int(key, in: limit)!) }
            try table.finish()
        }
        if let problem = commands.validate(frame, keypad: false) { throw t.error("layout", problem) }
        return ProfileConfig(frame: frame, commands: commands)
    }
}
