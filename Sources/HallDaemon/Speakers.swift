import DeviceKit
import Foundation
import Hall
import HallConfiguration
import Logging
import ServiceLifecycle
import Speech

/// The speakers' voices and announcers, made from configuration.
enum Speakers {
    /// Each speaker's voice. A clip folder with no readable clip stops the start,
    /// naming the device's `voice` key; unreadable clips are skipped with a warning.
    static func voices(_ devices: [HallConfig.Device], logger: Logger) throws -> [DeviceID: any Voice] {
        var voices: [DeviceID: any Voice] = [:]
        for device in devices {
            guard let speech = device.speech else { continue }
            switch speech.voice {
            case .espeak:
                voices[device.id] = EspeakVoice(logger: logger)
            case .clips(let dir):
                do {
                    voices[device.id] = try ClipVoice.load(directory: dir, gap: .milliseconds(speech.gapMilliseconds), logger: logger)
                } catch {
                    throw ConfigError(file: dir, key: "device \(device.id): voice", message: "\(error)")
                }
            }
        }
        return voices
    }

    static func announcers(
        _ devices: [HallConfig.Device], voices: [DeviceID: any Voice], registry: DeviceRegistry, events: any EventPublisher, logger: Logger
    ) -> [DeviceID: Announcer] {
        var announcers: [DeviceID: Announcer] = [:]
        for device in devices {
            guard let speech = device.speech, let voice = voices[device.id] else { continue }
            var settings = AnnouncerSettings()
            settings.callTemplate = speech.callTemplate
            settings.repeats = speech.repeats
            settings.maxQueued = speech.maxQueued
            settings.pause = .milliseconds(speech.pauseMilliseconds)
            announcers[device.id] = Announcer(speaker: device.id, voice: voice, settings: settings, registry: registry, events: events, logger: logger)
        }
        return announcers
    }

    /// What the hall calls to have a call said: queued on the speaker's announcer,
    /// never waited for.
    static func announce(_ announcers: [DeviceID: Announcer]) -> @Sendable (DeviceID, SpokenCall) async -> Void {
        { speaker, call in
            await announcers[speaker]?.call(number: call.number, window: call.window, service: call.service, ticket: call.ticket, recall: call.recall)
        }
    }
}

/// Plays every speaker's queue until graceful shutdown (with no speaker, it waits for
/// it: a service that ends early would stop the daemon).
struct AnnouncerService: Service {
    let announcers: [Announcer]
    func run() async throws {
        await withDiscardingTaskGroup { group in
            for a in announcers { group.addTask { await a.run() } }
            try? await gracefulShutdown()
            group.cancelAll()
        }
    }
}
