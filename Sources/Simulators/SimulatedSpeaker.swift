import DeviceKit
import Foundation

/// A speaker that keeps what it would have played, with timing: each sound takes
/// as long as it lasts on the speaker's clock, and is kept with when it started and
/// ended. For `make run` and the tests of the announcer; the ALSA driver is tested
/// against ALSA itself.
public actor SimulatedSpeaker: Speaker, SimulatedDevice {
    /// A sound the speaker played.
    public struct Played: Sendable, Equatable {
        public var audio: PCMAudio
        public var started: ContinuousClock.Instant
        public var ended: ContinuousClock.Instant
    }

    public nonisolated let id: DeviceID
    public nonisolated let kind = DeviceKind.speaker
    public nonisolated let driver = "simulated"
    public nonisolated let name: String
    var faults: FaultState
    var context: DeviceContext?
    var isOpen = false
    /// Plays in real time (false: at once, for tests that only look at what was played).
    let realTime: Bool
    let chime: PCMAudio
    public private(set) var played: [Played] = []
    private var playing = false

    public init(id: DeviceID, name: String, realTime: Bool = true, chime: PCMAudio = .chime()) {
        self.id = id
        self.name = name
        self.realTime = realTime
        self.chime = chime
        self.faults = FaultState(id: id, kind: .speaker)
    }

    public func open(context: DeviceContext) async throws -> DeviceOpenInfo {
        try openCommon(context: context)
        var c = DeviceCapabilities()
        c.formats = ["pcm-s16le-mono"]
        return DeviceOpenInfo(identity: identityBase, capabilities: c, status: faults.status)
    }

    public func close() async { isOpen = false }

    public func inject(_ fault: SimulatedFault) async throws { try applyFault(fault) }

    public func play(_ audio: PCMAudio) async throws -> PlaybackReport {
        try ready()
        // Two sounds at once would cut one off: the announcer plays one at a time, and
        // a test that sees this error has found that it did not.
        guard !playing else { throw DeviceError(.sequenceError, "\(id): a sound was played over another one still playing", device: id) }
        playing = true
        defer { playing = false }
        let started = ContinuousClock.now
        if realTime { try await Task.sleep(for: audio.duration) }
        played.append(Played(audio: audio, started: started, ended: ContinuousClock.now))
        return PlaybackReport(samples: audio.samples.count)
    }

    public func healthCheck(_ level: HealthLevel) async throws -> HealthReport {
        var checks = faults.internalChecks(isOpen: isOpen)
        switch level {
        case .internal: break
        case .external:
            do {
                let report = try await play(chime)
                checks.append(HealthCheckItem("chime", passed: true, "played \(report.samples) samples"))
            } catch let e as DeviceError {
                checks.append(HealthCheckItem("chime", passed: false, e.message))
            }
        case .interactive:
            throw DeviceError(.unsupportedCommand, "a speaker's check is external (it plays the chime)", device: id)
        }
        return HealthReport(device: id, level: level, checks: checks)
    }
}
