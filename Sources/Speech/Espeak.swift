import CEspeakNG
import DeviceKit
import Foundation
import Synchronization
import WireProtocols

/// espeak-ng could not speak: its data is missing, or it refused the text.
public struct EspeakError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public var description: String { "espeak-ng: \(message)" }
}

/// The process's libespeak-ng, offline Mandarin (`cmn`) speech. The library keeps
/// global state and synthesizes synchronously, so every call runs on one thread of
/// its own, in order: a sentence takes tens of milliseconds there, never on the
/// cooperative pool.
public final class Espeak: Sendable {
    public static let shared = Espeak()

    private let worker = BlockingWorker(name: "espeak-ng")
    /// The sample rate once initialized, or why it could not be.
    private let initialized = Mutex<Result<Int, EspeakError>?>(nil)

    private init() {}

    /// Speaks `text` with `voice` at `rate` words a minute; digits are said one by one
    /// (A012 is A 零一二, as halls call numbers).
    public func synthesize(_ text: String, voice: String = "cmn", rate: Int = 150) async throws -> PCMAudio {
        let spoken = SpokenWords.digitsSpelled(text)
        return try await worker.run { [self] in
            let sampleRate = try initialized.withLock { state -> Int in
                if state == nil, let why = halld_espeak_load() {
                    state = .failure(EspeakError(message: String(cString: why)))
                }
                if state == nil {
                    let r = espeak_Initialize(AUDIO_OUTPUT_SYNCHRONOUS, 500, nil, Int32(espeakINITIALIZE_DONT_EXIT))
                    state = r > 0 ? .success(Int(r)) : .failure(EspeakError(message: "cannot initialize (is espeak-ng-data installed?), code \(r)"))
                    if r > 0 { espeak_SetSynthCallback(collect) }
                }
                return try state!.get()
            }
            guard espeak_SetVoiceByName(voice) == EE_OK else { throw EspeakError(message: "no voice \"\(voice)\" (espeak-ng --voices lists them)") }
            espeak_SetParameter(espeakRATE, Int32(rate), 0)
            let box = SampleBox()
            let unmanaged = Unmanaged.passRetained(box)
            defer { unmanaged.release() }
            let bytes = Array(spoken.utf8) + [0]
            let status = bytes.withUnsafeBufferPointer { p in
                espeak_Synth(p.baseAddress, bytes.count, 0, POS_CHARACTER, 0, UInt32(espeakCHARS_UTF8), nil, unmanaged.toOpaque())
            }
            guard status == EE_OK else { throw EspeakError(message: "espeak_Synth failed (\(status.rawValue)) for \"\(text)\"") }
            return PCMAudio(sampleRate: sampleRate, samples: box.samples)
        }
    }
}

/// Where the callback puts samples: touched only on the espeak-ng thread.
private final class SampleBox: @unchecked Sendable {
    var samples: [Int16] = []
}

/// espeak-ng's synthesis callback: appends the samples to the box the sentence's
/// `user_data` points to. 0: go on.
private func collect(_ wav: UnsafeMutablePointer<Int16>?, _ count: Int32, _ events: UnsafeMutablePointer<espeak_EVENT>?) -> Int32 {
    guard let wav, count > 0, let data = events?.pointee.user_data else { return 0 }
    let box = Unmanaged<SampleBox>.fromOpaque(data).takeUnretainedValue()
    box.samples.append(contentsOf: UnsafeBufferPointer(start: wav, count: Int(count)))
    return 0
}
