import DeviceKit
import Foundation
import Logging

/// How a speaker announces (the speaker's `[[device]]` keys).
public struct AnnouncerSettings: Sendable, Equatable {
    /// `{number}` the ticket, `{window}` the window's number, `{service}` the service's name.
    public var callTemplate = "请{number}号到{window}号窗口办理"
    /// Times a call is said after the chime.
    public var repeats = 2
    /// Announcements waiting at most; one more is dropped (and announced as dropped).
    public var maxQueued = 20
    /// Silence between two repeats of a sentence.
    public var pause: Duration = .milliseconds(800)

    public init() {}

    /// The call's sentence.
    public func sentence(number: String, window: Int, service: String) -> String {
        callTemplate.replacingOccurrences(of: "{number}", with: number).replacingOccurrences(of: "{window}", with: String(window))
            .replacingOccurrences(of: "{service}", with: service)
    }
}

/// One speaker's announcements: queued in order, played one at a time and whole (a
/// new one never cuts off the one playing), each the chime then its sentence
/// `repeats` times. The queue is bounded; what does not fit is dropped with an
/// `announcement.dropped` event, never silently. A speaker that fails fails the
/// announcement (`announcement.failed`); the caller (a window calling) never waits
/// for the sound.
public actor Announcer {
    public nonisolated let speaker: DeviceID
    public nonisolated let voice: any Voice
    public nonisolated let settings: AnnouncerSettings
    let registry: DeviceRegistry
    let events: any EventPublisher
    let logger: Logger
    private var queue: [Announcement] = []
    private var playing: Announcement?
    private var recent: [Announcement] = []
    private let wake: AsyncStream<Void>.Continuation
    private let wakes: AsyncStream<Void>
    private var counter = 0
    private let prefix = String(UUID().uuidString.prefix(6)).lowercased()

    public init(speaker: DeviceID, voice: any Voice, settings: AnnouncerSettings, registry: DeviceRegistry, events: any EventPublisher, logger: Logger) {
        self.speaker = speaker
        self.voice = voice
        self.settings = settings
        self.registry = registry
        self.events = events
        var logger = logger
        logger[metadataKey: "device.id"] = "\(speaker)"
        self.logger = logger
        (wakes, wake) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    // MARK: queueing

    /// Queues a ticket's call (or recall) at a window.
    @discardableResult
    public func call(number: String, window: Int, service: String, ticket: String, recall: Bool) async -> Announcement {
        await enqueue(
            kind: recall ? .recall : .call, text: settings.sentence(number: number, window: window, service: service), repeats: settings.repeats,
            ticket: ticket, window: window)
    }

    /// Queues `text`; returns it queued, or dropped when the queue is full.
    @discardableResult
    public func enqueue(kind: Announcement.Kind, text: String, repeats: Int, ticket: String? = nil, window: Int? = nil) async -> Announcement {
        counter += 1
        var a = Announcement(
            id: "an-\(prefix)-\(counter)", speaker: speaker, kind: kind, text: text, repeats: repeats, ticket: ticket, window: window, queuedAt: Timestamp.string())
        guard queue.count < settings.maxQueued else {
            a.state = .dropped
            a.error = "the queue of \(speaker) is full (\(queue.count) waiting, max_queued = \(settings.maxQueued))"
            a.finishedAt = a.queuedAt
            logger.warning("announcement dropped: \(a.error!): \"\(text)\"")
            remember(a)
            await publish(EventType.announcementDropped, a)
            return a
        }
        queue.append(a)
        wake.yield()
        return a
    }

    public func snapshot() -> AnnouncementQueue {
        AnnouncementQueue(speaker: speaker, voice: voice.description, maxQueued: settings.maxQueued, playing: playing, queued: queue, recent: recent)
    }

    // MARK: playing

    /// Plays the queue until cancelled (the announcement playing is played to its end
    /// on ALSA; the simulated speaker stops at once).
    public func run() async {
        for await _ in wakes {
            while !Task.isCancelled, !queue.isEmpty {
                await play(queue.removeFirst())
            }
        }
    }

    private func play(_ queued: Announcement) async {
        var a = queued
        a.state = .playing
        a.startedAt = Timestamp.string()
        playing = a
        defer { playing = nil }
        // The sentence is made while the chime plays.
        let voice = voice
        let text = a.text
        async let sentence = voice.say(text)
        do {
            let device = try await readySpeaker()
            await publish(EventType.announcementStarted, a)
            var samples = try await device.play(voice.chime).samples
            let spoken = await sentence
            a.synthesized = spoken.synthesized.isEmpty ? nil : spoken.synthesized
            a.unsaid = spoken.unsaid.isEmpty ? nil : spoken.unsaid
            var body = PCMAudio(sampleRate: voice.sampleRate)
            for i in 0..<a.repeats {
                if i > 0 { body.append(.silence(settings.pause, sampleRate: voice.sampleRate)) }
                body.append(spoken.audio)
            }
            if !body.samples.isEmpty { samples += try await device.play(body).samples }
            a.state = .finished
            a.samples = samples
            a.milliseconds = samples * 1000 / voice.sampleRate
            a.finishedAt = Timestamp.string()
            done(a)
            await publish(EventType.announcementFinished, a)
        } catch is CancellationError {
            // halld is stopping: the sound was cut by the shutdown, not by another announcement.
            _ = await sentence
            a.state = .failed
            a.error = "halld stopped while it played"
            logger.notice("announcement cut short by the shutdown: \"\(a.text)\"")
            done(a)
        } catch {
            _ = await sentence
            a.state = .failed
            a.error = (error as? DeviceError)?.message ?? "\(error)"
            a.finishedAt = Timestamp.string()
            logger.warning("announcement not played: \(a.error!): \"\(a.text)\"")
            if let e = error as? DeviceError { await registry.recordError(speaker, e) }
            done(a)
            await publish(EventType.announcementFailed, a)
        }
    }

    /// The speaker, when it can play now; a speaker that is absent or broken fails
    /// the announcement at once (a call is not kept waiting for a speaker).
    private func readySpeaker() async throws -> any Speaker {
        guard let device = await registry.device(speaker) as? any Speaker else {
            throw DeviceError(.notFound, "\(speaker) is not a speaker", device: speaker)
        }
        if let status = await registry.snapshot(speaker)?.status, !status.state.acceptsWork {
            throw DeviceError.notReady(speaker, status)
        }
        return device
    }

    /// The announcement playing is over: no longer playing, among the recent ones, at once
    /// (the queue never shows one as both).
    private func done(_ a: Announcement) {
        playing = nil
        remember(a)
    }

    private func remember(_ a: Announcement) {
        recent.insert(a, at: 0)
        if recent.count > 20 { recent.removeLast() }
    }

    /// Publishes in a task of its own: an announcement that ends while halld stops
    /// (its sound played to the end on ALSA) is still recorded.
    private func publish(_ type: String, _ a: Announcement) async {
        let (events, speaker) = (events, speaker)
        do {
            let data = try JSONValue(encoding: a)
            try await Task.detached { try await events.publish(NewEvent(type: type, device: speaker, data: data)) }.value
        } catch {
            logger.error("event \(type) not stored: \(error)")
        }
    }
}
