import Foundation

/// Sound to play: mono 16-bit signed samples at a sample rate. What voices make and
/// speakers take.
public struct PCMAudio: Sendable, Equatable {
    public var sampleRate: Int
    public var samples: [Int16]

    public init(sampleRate: Int, samples: [Int16] = []) {
        self.sampleRate = sampleRate
        self.samples = samples
    }

    public var duration: Duration { .microseconds(Int64(samples.count) * 1_000_000 / Int64(max(sampleRate, 1))) }

    /// `count` samples of silence at `rate`.
    public static func silence(_ duration: Duration, sampleRate: Int) -> PCMAudio {
        let ms = duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000
        return PCMAudio(sampleRate: sampleRate, samples: Array(repeating: 0, count: Int(ms) * sampleRate / 1000))
    }

    /// Appends `other`, resampled to this rate when it has another.
    public mutating func append(_ other: PCMAudio) {
        samples += other.sampleRate == sampleRate ? other.samples : other.resampled(to: sampleRate).samples
    }

    /// Linear interpolation to `rate`: enough for speech and chimes.
    public func resampled(to rate: Int) -> PCMAudio {
        guard rate != sampleRate, !samples.isEmpty, rate > 0 else { return PCMAudio(sampleRate: rate, samples: samples) }
        let count = Int((Int64(samples.count) * Int64(rate)) / Int64(sampleRate))
        var out = [Int16](repeating: 0, count: count)
        let step = Double(sampleRate) / Double(rate)
        for i in 0..<count {
            let x = Double(i) * step
            let j = Int(x)
            let f = x - Double(j)
            let a = Double(samples[min(j, samples.count - 1)]), b = Double(samples[min(j + 1, samples.count - 1)])
            out[i] = Int16(clamping: Int((a + (b - a) * f).rounded()))
        }
        return PCMAudio(sampleRate: rate, samples: out)
    }

    /// The two-tone chime (ding-dong, 660 Hz then 523 Hz, 0.9 s) used where no
    /// recorded chime is given, and by the speakers' external health check.
    public static func chime(sampleRate: Int = 22_050) -> PCMAudio {
        var samples: [Int16] = []
        for (frequency, seconds) in [(659.25, 0.4), (523.25, 0.5)] {
            let n = Int(Double(sampleRate) * seconds)
            for i in 0..<n {
                let t = Double(i) / Double(sampleRate)
                let envelope = exp(-3.5 * t) * min(1, Double(i) / 200)
                samples.append(Int16(12_000 * envelope * sin(2 * .pi * frequency * t)))
            }
        }
        return PCMAudio(sampleRate: sampleRate, samples: samples)
    }
}

/// What a speaker did with a piece of audio.
public struct PlaybackReport: Sendable, Equatable {
    public var samples: Int
    /// Underruns the device had while playing it (each recovered).
    public var underruns: Int

    public init(samples: Int, underruns: Int = 0) {
        self.samples = samples
        self.underruns = underruns
    }
}

/// A loudspeaker: plays audio to its end. A call to `play` returns once the sound
/// has been played (drained), so the next piece never cuts it off.
public protocol Speaker: Device {
    func play(_ audio: PCMAudio) async throws -> PlaybackReport
}

/// Something a speaker says: a call, a recall, or a text a clerk or technician gave.
/// Queued per speaker and played in order, whole.
public struct Announcement: Sendable, Codable, Equatable {
    public enum Kind: String, Sendable, Codable { case call, recall, text }
    public enum State: String, Sendable, Codable { case queued, playing, finished, failed, dropped }

    public var id: String
    public var speaker: DeviceID
    public var kind: Kind
    /// The sentence, as said (a call's template filled in).
    public var text: String
    /// Times the sentence is said, after the chime.
    public var repeats: Int
    public var ticket: String?
    public var window: Int?
    public var state: State
    public var queuedAt: String
    public var startedAt: String?
    public var finishedAt: String?
    /// Why it failed or was dropped.
    public var error: String?
    /// Pieces of the sentence a clip voice had no clip for, said by espeak-ng.
    public var synthesized: [String]?
    /// Pieces nothing could say (espeak-ng unavailable).
    public var unsaid: [String]?
    /// Samples played (chime included) and their length in milliseconds.
    public var samples: Int?
    public var milliseconds: Int?

    public init(id: String, speaker: DeviceID, kind: Kind, text: String, repeats: Int, ticket: String? = nil, window: Int? = nil, state: State = .queued, queuedAt: String) {
        self.id = id
        self.speaker = speaker
        self.kind = kind
        self.text = text
        self.repeats = repeats
        self.ticket = ticket
        self.window = window
        self.state = state
        self.queuedAt = queuedAt
    }
}

/// A speaker's queue as `GET /v1/speakers/{id}/announcements` shows it.
public struct AnnouncementQueue: Sendable, Codable, Equatable {
    public var speaker: DeviceID
    /// The voice: `clips:DIR (N clips)` or `espeak-ng`, with what it could not load.
    public var voice: String
    public var maxQueued: Int
    public var playing: Announcement?
    public var queued: [Announcement]
    /// The last announcements played, failed or dropped, newest first.
    public var recent: [Announcement]

    public init(speaker: DeviceID, voice: String, maxQueued: Int, playing: Announcement?, queued: [Announcement], recent: [Announcement]) {
        self.speaker = speaker
        self.voice = voice
        self.maxQueued = maxQueued
        self.playing = playing
        self.queued = queued
        self.recent = recent
    }
}
