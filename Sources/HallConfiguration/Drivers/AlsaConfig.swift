import DeviceKit
import Foundation

/// `driver = "alsa"`: a speaker on an ALSA PCM.
public struct AlsaSettings: Sendable, Equatable {
    /// The PCM's name: `default`, `plughw:CARD=Device,DEV=0`, or one of asound.conf.
    public var pcm: String

    public init(pcm: String) { self.pcm = pcm }
}

/// What every speaker's table says about speech, whatever its driver.
public struct SpeakerSettings: Sendable, Equatable {
    public enum VoiceSetting: Sendable, Equatable {
        /// `clips:DIR`: recorded clips, espeak-ng for what they do not cover.
        case clips(String)
        /// `espeak-ng`: libespeak-ng's Mandarin.
        case espeak
    }

    public var voice: VoiceSetting = .espeak
    /// Silence between two clips (`gap_ms`).
    public var gapMilliseconds = 30
    /// Silence between two repeats (`pause_ms`).
    public var pauseMilliseconds = 800
    public var callTemplate = "请{number}号到{window}号窗口办理"
    /// `repeat`: times a call is said.
    public var repeats = 2
    public var maxQueued = 20

    public init() {}

    static let placeholders = ["{number}", "{window}", "{service}"]

    /// The speaker keys of a `[[device]]` table with `kind = "speaker"`.
    static func read(_ t: inout TableReader) throws -> SpeakerSettings {
        var s = SpeakerSettings()
        if let voice = try t.string("voice") {
            if voice == "espeak-ng" {
                s.voice = .espeak
            } else if voice.hasPrefix("clips:"), voice.count > 6 {
                let dir = String(voice.dropFirst(6))
                guard dir.hasPrefix("/") else { throw t.error("voice", "the clip folder must be an absolute path, found \"\(dir)\"") }
                var isDirectory: ObjCBool = false
                guard FileManager.default.fileExists(atPath: dir, isDirectory: &isDirectory), isDirectory.boolValue else {
                    throw t.error("voice", "\(dir) is not a folder of clips (hallctl voice make \(dir) writes one)")
                }
                s.voice = .clips(dir)
            } else {
                throw t.error("voice", "expected \"espeak-ng\" or \"clips:/FOLDER\" (WAV clips named by what they say), found \"\(voice)\"")
            }
        }
        s.gapMilliseconds = try t.int("gap_ms", in: 0...2000) ?? s.gapMilliseconds
        s.pauseMilliseconds = try t.int("pause_ms", in: 0...10_000) ?? s.pauseMilliseconds
        s.repeats = try t.int("repeat", in: 1...5) ?? s.repeats
        s.maxQueued = try t.int("max_queued", in: 1...1000) ?? s.maxQueued
        if let template = try t.string("call_template") {
            guard template.contains("{number}") else { throw t.error("call_template", "must say {number} (the ticket), found \"\(template)\"") }
            var rest = template
            for p in placeholders { rest = rest.replacingOccurrences(of: p, with: "") }
            if let open = rest.firstIndex(of: "{") {
                let unknown = rest[open...].prefix { $0 != "}" } + "}"
                throw t.error("call_template", "unknown placeholder \(unknown): use \(placeholders.joined(separator: ", "))")
            }
            s.callTemplate = template
        }
        return s
    }
}

extension DriverReader {
    static let alsa = DriverReader(driver: "alsa", kinds: [.speaker]) { t, kind, profiles in
        guard let pcm = try t.string("pcm"), !pcm.isEmpty else {
            throw t.error("pcm", "required: the ALSA PCM, e.g. \"default\" or \"plughw:CARD=Device,DEV=0\" (aplay -L lists them)")
        }
        return .alsa(AlsaSettings(pcm: pcm))
    }
}
