import DeviceKit
import Foundation
import Logging
import Synchronization
import WireProtocols

/// A sentence as a voice says it.
public struct SpokenText: Sendable {
    public var audio: PCMAudio
    /// Pieces a clip voice had no clip for, said by espeak-ng.
    public var synthesized: [String] = []
    /// Pieces nothing could say.
    public var unsaid: [String] = []
}

/// Turns text into speech, offline.
public protocol Voice: Sendable {
    /// `clips:DIR (N clips)` or `espeak-ng`, for the queue and the logs.
    var description: String { get }
    var sampleRate: Int { get }
    /// Played before each announcement.
    var chime: PCMAudio { get }
    func say(_ text: String) async -> SpokenText
}

/// `voice = "espeak-ng"`: libespeak-ng's Mandarin for every sentence.
public struct EspeakVoice: Voice {
    public let voiceName: String
    public let sampleRate = 22_050
    public let chime = PCMAudio.chime(sampleRate: 22_050)
    let logger: Logger

    public init(voice: String = "cmn", logger: Logger) {
        self.voiceName = voice
        self.logger = logger
    }

    public var description: String { "espeak-ng (\(voiceName))" }

    public func say(_ text: String) async -> SpokenText {
        do {
            let audio = try await Espeak.shared.synthesize(text, voice: voiceName)
            return SpokenText(audio: audio.resampled(to: sampleRate))
        } catch {
            logger.error("\(error): \"\(text)\" not said")
            return SpokenText(audio: PCMAudio(sampleRate: sampleRate), unsaid: [text])
        }
    }
}

/// `voice = "clips:DIR"`: recorded clips named by what they say (`请.wav`, `号.wav`,
/// `0.wav`, `A.wav`, `窗口.wav`, service names, `chime.wav`). A sentence is cut left
/// to right into the longest clip names that match; the clips play in that order with
/// `gap` between them. Spaces and punctuation with no clip of their own are a pause.
/// A piece no clip covers is said by espeak-ng, and the log says so once per piece.
public final class ClipVoice: Voice {
    public enum Piece: Sendable, Equatable {
        case clip(String)
        case missing(String)
        case pause
    }

    public let directory: String
    public let sampleRate: Int
    public let chime: PCMAudio
    public let gap: Duration
    /// Clips that could not be read: `FILE: byte N: why`.
    public let skipped: [String]
    let clips: [String: PCMAudio]
    let longest: Int
    let fallback: EspeakVoice
    let logger: Logger
    private let told = Mutex<Set<String>>([])

    init(directory: String, clips: [String: PCMAudio], chime: PCMAudio?, sampleRate: Int, gap: Duration, skipped: [String], logger: Logger) {
        self.directory = directory
        self.clips = clips
        self.sampleRate = sampleRate
        self.chime = chime ?? .chime(sampleRate: sampleRate)
        self.gap = gap
        self.skipped = skipped
        self.longest = clips.keys.map(\.count).max() ?? 1
        self.fallback = EspeakVoice(logger: logger)
        self.logger = logger
    }

    /// Reads every `*.wav` of `directory`. A folder that cannot be read, or holds no
    /// clip, throws (a configuration error); a clip that cannot be read is skipped
    /// and named in `skipped` (its words fall back to espeak-ng).
    public static func load(directory: String, gap: Duration = .milliseconds(30), logger: Logger) throws -> ClipVoice {
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: directory)
        } catch {
            throw VoiceError("clip folder \(directory) cannot be read: \((error as NSError).localizedDescription)")
        }
        var decoded: [String: PCMAudio] = [:]
        var skipped: [String] = []
        for file in names.sorted() where file.lowercased().hasSuffix(".wav") {
            let name = String(file.dropLast(4)).precomposedStringWithCanonicalMapping
            do {
                let data = try Data(contentsOf: URL(fileURLWithPath: directory).appendingPathComponent(file))
                decoded[name] = try WAV.decode(data)
            } catch {
                skipped.append("\(file): \(error)")
                logger.warning("voice clip \(directory)/\(file) skipped: \(error)")
            }
        }
        guard !decoded.isEmpty else {
            throw VoiceError("clip folder \(directory) has no readable .wav clip" + (skipped.isEmpty ? "" : " (\(skipped.joined(separator: "; ")))"))
        }
        // The rate most clips have; the others are resampled to it once, here.
        let rate = Dictionary(grouping: decoded.values, by: \.sampleRate).max { $0.value.count < $1.value.count }!.key
        let clips = decoded.mapValues { $0.resampled(to: rate) }
        let chime = clips["chime"]
        return ClipVoice(
            directory: directory, clips: clips.filter { $0.key != "chime" }, chime: chime, sampleRate: rate, gap: gap, skipped: skipped, logger: logger)
    }

    public var description: String {
        "clips:\(directory) (\(clips.count) clips\(skipped.isEmpty ? "" : ", \(skipped.count) unreadable: \(skipped.joined(separator: "; "))"))"
    }

    /// The clip names that cover `text`, longest first from the left.
    public func pieces(_ text: String) -> [Piece] {
        let chars = Array(text.precomposedStringWithCanonicalMapping)
        var pieces: [Piece] = []
        var missing = ""
        func flush() {
            if !missing.isEmpty { pieces.append(.missing(missing)) }
            missing = ""
        }
        var i = 0
        while i < chars.count {
            var matched = false
            for length in stride(from: min(longest, chars.count - i), through: 1, by: -1) {
                let name = String(chars[i..<i + length])
                if clips[name] != nil {
                    flush()
                    pieces.append(.clip(name))
                    i += length
                    matched = true
                    break
                }
            }
            if matched { continue }
            let c = chars[i]
            if c.isWhitespace || c.isPunctuation {
                flush()
                if pieces.last != .pause { pieces.append(.pause) }
            } else {
                missing.append(c)
            }
            i += 1
        }
        flush()
        return pieces
    }

    public func say(_ text: String) async -> SpokenText {
        var spoken = SpokenText(audio: PCMAudio(sampleRate: sampleRate))
        let silence = PCMAudio.silence(gap, sampleRate: sampleRate)
        let pause = PCMAudio.silence(.milliseconds(250), sampleRate: sampleRate)
        for (i, piece) in pieces(text).enumerated() {
            if i > 0 { spoken.audio.append(silence) }
            switch piece {
            case .clip(let name):
                spoken.audio.append(clips[name]!)
            case .pause:
                spoken.audio.append(pause)
            case .missing(let words):
                let first = told.withLock { $0.insert(words).inserted }
                if first { logger.notice("voice \(directory) has no clip for \"\(words)\": said by espeak-ng") }
                let said = await fallback.say(words)
                if said.unsaid.isEmpty {
                    spoken.synthesized.append(words)
                    spoken.audio.append(said.audio)
                } else {
                    spoken.unsaid.append(words)
                }
            }
        }
        return spoken
    }
}

/// A voice that cannot be made from its configuration.
public struct VoiceError: Error, Sendable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
