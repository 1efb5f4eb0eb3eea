import DeviceKit
import Foundation
import Transports

/// A loudspeaker on an ALSA PCM (`pcm = "default"`, `"hw:1,0"`, `"plughw:CARD=USB,DEV=0"`,
/// or a name defined in asound.conf). The PCM is opened with the device and kept
/// open; each sound is written whole and drained. A PCM that cannot be opened is
/// `noDevice` with ALSA's error; a write that finds the device gone reports it
/// lost (the registry reopens it with backoff); underruns and write errors are counted.
public actor AlsaSpeaker: Speaker {
    public nonisolated let id: DeviceID
    public nonisolated let kind = DeviceKind.speaker
    public nonisolated let driver = "alsa"
    public nonisolated let name: String
    public nonisolated let pcmName: String
    /// What the external health check plays.
    let chime: PCMAudio
    private let pcm: AlsaPCM
    private var context: DeviceContext?
    private var isOpen = false
    private var description = ""

    public init(id: DeviceID, name: String, pcm: String, chime: PCMAudio = .chime()) {
        self.id = id
        self.name = name
        self.pcmName = pcm
        self.chime = chime
        self.pcm = AlsaPCM(name: pcm)
    }

    public func open(context: DeviceContext) async throws -> DeviceOpenInfo {
        do {
            description = try await pcm.open()
        } catch let e as AlsaError {
            throw DeviceError(.deviceNotReady, "ALSA PCM \"\(pcmName)\" cannot be opened: \(e)", device: id, reasons: [Reason.deviceAbsent], state: .noDevice)
        }
        self.context = context
        isOpen = true
        var c = DeviceCapabilities()
        c.formats = ["pcm-s16le-mono"]
        return DeviceOpenInfo(identity: DeviceIdentity(model: "ALSA PCM \(pcmName)", connection: description), capabilities: c)
    }

    public func close() async {
        isOpen = false
        await pcm.close()
    }

    public func play(_ audio: PCMAudio) async throws -> PlaybackReport {
        guard isOpen else { throw DeviceError(.deviceNotReady, "\(id) is not open (ALSA PCM \"\(pcmName)\")", device: id, state: .noDevice) }
        do {
            let report = try await pcm.play(audio)
            if report.underruns > 0 {
                context?.report(.count(.underruns, Int64(report.underruns)))
                context?.logger.warning("\(report.underruns) underruns while playing \(audio.duration) (recovered)")
            }
            return report
        } catch let e as AlsaError {
            context?.report(.count(.writeErrors, 1))
            if e.deviceGone {
                isOpen = false
                await pcm.close()
                context?.report(.lost(DeviceStatus(.noDevice, reasons: [Reason.deviceAbsent])))
                throw DeviceError(.deviceNotReady, "ALSA PCM \"\(pcmName)\" is gone: \(e)", device: id, reasons: [Reason.deviceAbsent], state: .noDevice)
            }
            throw DeviceError(.hardwareError, "ALSA PCM \"\(pcmName)\": \(e)", device: id)
        }
    }

    public func healthCheck(_ level: HealthLevel) async throws -> HealthReport {
        let state = await pcm.state()
        var checks = [HealthCheckItem("pcm", passed: isOpen && state != nil, isOpen ? "\(description), state \(state ?? "closed")" : "\(pcmName) is not open")]
        switch level {
        case .internal:
            break
        case .external:
            do {
                let report = try await play(chime)
                checks.append(HealthCheckItem("chime", passed: true, "played \(report.samples) samples (\(chime.duration)), \(report.underruns) underruns"))
            } catch let e as DeviceError {
                checks.append(HealthCheckItem("chime", passed: false, e.message))
            }
        case .interactive:
            throw DeviceError(.unsupportedCommand, "a speaker's check is external (it plays the chime): nobody is asked to confirm", device: id)
        }
        return HealthReport(device: id, level: level, checks: checks)
    }
}
