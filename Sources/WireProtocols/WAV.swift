import DeviceKit
import Foundation

/// A WAV file that cannot be read, with the byte offset of what is wrong.
public struct WAVError: Error, Sendable, CustomStringConvertible, Equatable {
    public var offset: Int
    public var message: String

    public init(offset: Int, message: String) {
        self.offset = offset
        self.message = message
    }

    public var description: String { "byte \(offset): \(message)" }
}

/// RIFF WAVE with 16-bit PCM samples (`WAVE_FORMAT_PCM`, or EXTENSIBLE carrying PCM),
/// mono or stereo (mixed down to mono). What recorded clips and espeak-ng's `-w` are.
public enum WAV {
    public static func decode(_ data: Data) throws -> PCMAudio {
        let bytes = [UInt8](data)
        func u32(_ at: Int) -> UInt32 { UInt32(bytes[at]) | UInt32(bytes[at + 1]) << 8 | UInt32(bytes[at + 2]) << 16 | UInt32(bytes[at + 3]) << 24 }
        func u16(_ at: Int) -> UInt16 { UInt16(bytes[at]) | UInt16(bytes[at + 1]) << 8 }
        func tag(_ at: Int) -> String { String(decoding: bytes[at..<at + 4], as: UTF8.self) }
        guard bytes.count >= 12 else { throw WAVError(offset: 0, message: "\(bytes.count) bytes: too short for a RIFF header (12)") }
        guard tag(0) == "RIFF" else { throw WAVError(offset: 0, message: "expected \"RIFF\", found \(hex(bytes[0..<4]))") }
        guard tag(8) == "WAVE" else { throw WAVError(offset: 8, message: "expected \"WAVE\", found \(hex(bytes[8..<12]))") }
        var at = 12
        var format: (channels: Int, rate: Int, bits: Int)?
        while at + 8 <= bytes.count {
            let id = tag(at)
            let size = Int(u32(at + 4))
            let body = at + 8
            guard body + size <= bytes.count || id == "data" else {
                throw WAVError(offset: at + 4, message: "chunk \"\(id)\" says \(size) bytes, the file has \(bytes.count - body) after it")
            }
            switch id {
            case "fmt ":
                guard size >= 16 else { throw WAVError(offset: at + 4, message: "fmt chunk of \(size) bytes (at least 16)") }
                var code = u16(body)
                if code == 0xFFFE, size >= 40 { code = u16(body + 24) }
                guard code == 1 else { throw WAVError(offset: body, message: "format \(code) is not PCM (1): save the clip as 16-bit PCM WAV") }
                let channels = Int(u16(body + 2)), rate = Int(u32(body + 4)), bits = Int(u16(body + 14))
                guard channels == 1 || channels == 2 else { throw WAVError(offset: body + 2, message: "\(channels) channels: mono or stereo") }
                guard bits == 16 else { throw WAVError(offset: body + 14, message: "\(bits) bits a sample: 16 are needed") }
                guard (4000...192_000).contains(rate) else { throw WAVError(offset: body + 4, message: "sample rate \(rate) Hz") }
                format = (channels, rate, bits)
            case "data":
                guard let format else { throw WAVError(offset: at, message: "data chunk before the fmt chunk") }
                // A writer that streamed may leave the size 0 or too large: read what is there.
                let end = min(body + size, bytes.count)
                let frameBytes = 2 * format.channels
                let frames = (end - body) / frameBytes
                var samples = [Int16](repeating: 0, count: frames)
                for i in 0..<frames {
                    let p = body + i * frameBytes
                    let left = Int16(bitPattern: u16(p))
                    samples[i] = format.channels == 1 ? left : Int16((Int(left) + Int(Int16(bitPattern: u16(p + 2)))) / 2)
                }
                return PCMAudio(sampleRate: format.rate, samples: samples)
            default:
                break
            }
            at = body + size + (size & 1)
        }
        throw WAVError(offset: min(at, bytes.count), message: format == nil ? "no fmt chunk" : "no data chunk")
    }

    /// A mono 16-bit PCM WAV file.
    public static func encode(_ audio: PCMAudio) -> Data {
        var d = Data()
        func put32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { d.append(contentsOf: $0) } }
        func put16(_ v: UInt16) { withUnsafeBytes(of: v.littleEndian) { d.append(contentsOf: $0) } }
        let dataBytes = UInt32(audio.samples.count * 2)
        d.append(contentsOf: Array("RIFF".utf8))
        put32(36 + dataBytes)
        d.append(contentsOf: Array("WAVEfmt ".utf8))
        put32(16)
        put16(1)
        put16(1)
        put32(UInt32(audio.sampleRate))
        put32(UInt32(audio.sampleRate * 2))
        put16(2)
        put16(16)
        d.append(contentsOf: Array("data".utf8))
        put32(dataBytes)
        for s in audio.samples { put16(UInt16(bitPattern: s)) }
        return d
    }

    private static func hex(_ b: ArraySlice<UInt8>) -> String { b.map { String(format: "%02x", $0) }.joined(separator: " ") }
}
