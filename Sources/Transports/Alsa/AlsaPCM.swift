import CAlsa
import DeviceKit
import Foundation

/// An ALSA error: the call that failed and libasound's words for it.
public struct AlsaError: Error, Sendable, CustomStringConvertible {
    public var call: String
    /// The negative errno ALSA returned.
    public var code: Int32
    public var message: String

    init(_ call: String, _ code: Int32) {
        self.call = call
        self.code = code
        self.message = String(cString: snd_strerror(code))
    }

    public var description: String { "\(call): \(message)" }

    /// The device is gone (USB speaker unplugged, PCM closed underneath).
    public var deviceGone: Bool { code == -ENODEV || code == -EBADFD || code == -EIO || code == -ENOENT }
}

/// One ALSA playback PCM (`default`, `hw:1,0`, `plughw:…`, a name from asoundrc),
/// opened in blocking mode on a thread of its own: opening, writing and draining
/// block until the sound card has taken the samples, never on the cooperative pool.
/// `play` writes every sample and drains, so a sound is always played to its end
/// before the next one starts.
///
/// @unchecked Sendable: `pcm` and `rate` are only touched by jobs of `worker`,
/// which runs them one at a time on its thread.
public final class AlsaPCM: @unchecked Sendable {
    public let name: String
    private let worker: BlockingWorker
    private var pcm: OpaquePointer?
    private var rate = 0

    public init(name: String) {
        self.name = name
        self.worker = BlockingWorker(name: "alsa \(name)")
    }

    deinit {
        if let pcm { snd_pcm_close(pcm) }
        worker.stop()
    }

    /// Opens the PCM for playback; returns ALSA's description of it (its type and
    /// what it stands on). Throws `AlsaError` (an unknown PCM is `No such file or directory`).
    public func open() async throws -> String {
        try await worker.run { [self] in
            if let pcm {
                snd_pcm_close(pcm)
                self.pcm = nil
            }
            var handle: OpaquePointer?
            // Opened non-blocking: a card another program holds answers EBUSY at once
            // instead of keeping the open (and the device's start) waiting; writes block.
            let err = snd_pcm_open(&handle, name, SND_PCM_STREAM_PLAYBACK, SND_PCM_NONBLOCK)
            guard err >= 0, let handle else { throw AlsaError("snd_pcm_open \"\(name)\"", err) }
            let blocking = snd_pcm_nonblock(handle, 0)
            guard blocking >= 0 else {
                snd_pcm_close(handle)
                throw AlsaError("snd_pcm_nonblock \"\(name)\"", blocking)
            }
            pcm = handle
            rate = 0
            let type = String(cString: snd_pcm_type_name(snd_pcm_type(handle)))
            return "alsa pcm \(name) (\(type.lowercased()))"
        }
    }

    public func close() async {
        _ = try? await worker.run { [self] in
            if let pcm { snd_pcm_close(pcm) }
            pcm = nil
        }
    }

    /// Plays `audio` to its end: the format set when the rate changes, every sample
    /// written (an underrun is recovered and counted), then drained.
    public func play(_ audio: PCMAudio, latency: Duration = .milliseconds(200)) async throws -> PlaybackReport {
        let micros = UInt32(latency.components.seconds * 1_000_000 + latency.components.attoseconds / 1_000_000_000_000)
        return try await worker.run { [self] in
            guard let pcm else { throw AlsaError("play", -EBADFD) }
            if rate != audio.sampleRate {
                let err = snd_pcm_set_params(pcm, SND_PCM_FORMAT_S16_LE, SND_PCM_ACCESS_RW_INTERLEAVED, 1, UInt32(audio.sampleRate), 1, micros)
                guard err >= 0 else { throw AlsaError("snd_pcm_set_params (S16_LE, mono, \(audio.sampleRate) Hz)", err) }
                rate = audio.sampleRate
            } else {
                // Drained: back to PREPARED for the next sound.
                let err = snd_pcm_prepare(pcm)
                guard err >= 0 else { throw AlsaError("snd_pcm_prepare", err) }
            }
            var underruns = 0
            var offset = 0
            try audio.samples.withUnsafeBufferPointer { buffer in
                while offset < buffer.count {
                    let written = snd_pcm_writei(pcm, buffer.baseAddress! + offset, snd_pcm_uframes_t(buffer.count - offset))
                    if written >= 0 {
                        offset += Int(written)
                        continue
                    }
                    let err = Int32(written)
                    if err == -EPIPE { underruns += 1 }
                    // An underrun (EPIPE) or a suspend (ESTRPIPE) is recovered; the rest is an error.
                    guard err == -EPIPE || err == -ESTRPIPE || err == -EINTR, snd_pcm_recover(pcm, err, 1) >= 0 else {
                        throw AlsaError("snd_pcm_writei", err)
                    }
                }
            }
            let err = snd_pcm_drain(pcm)
            guard err >= 0 else { throw AlsaError("snd_pcm_drain", err) }
            return PlaybackReport(samples: offset, underruns: underruns)
        }
    }

    /// The PCM's state as ALSA names it (`PREPARED`, `SETUP`, …), or nil when closed.
    public func state() async -> String? {
        try? await worker.run { [self] in
            guard let pcm else { return nil }
            return String(cString: snd_pcm_state_name(snd_pcm_state(pcm)))
        }
    }
}
