import DeviceKit
import HallAPIModels
import Hummingbird
import Speech

/// What a speaker says: free announcements queued behind the calls, and the queue.
struct SpeakerController {
    let services: APIServices

    func register(_ router: Router<HallRequestContext>) {
        router.post("/v1/speakers/{id}/announcements") { request, context in
            try context.require(.clerk, to: "making an announcement")
            let announcer = try await announcer(context)
            let body = try await request.decode(as: AnnouncementRequest.self, context: context)
            let text = body.text.trimmingCharacters(in: .whitespacesAndNewlines)
            if text.isEmpty { throw APIError.invalidData("text is empty: give the sentence to say", field: "text") }
            if text.count > 200 { throw APIError.invalidData("text is \(text.count) characters; at most 200 are said", field: "text") }
            let repeats = body.repeat ?? 1
            if !(1...5).contains(repeats) { throw APIError.invalidData("repeat must be 1 to 5, not \(repeats)", field: "repeat") }
            let a = await announcer.enqueue(kind: .text, text: text, repeats: repeats)
            if a.state == .dropped {
                throw APIError(.serviceUnavailable, .deviceNotReady, "not queued: \(a.error ?? "the queue is full"); announcement.dropped was sent", device: a.speaker)
            }
            return jsonResponse(a, status: .accepted, headers: [.location: "/v1/speakers/\(a.speaker)/announcements"])
        }
        router.get("/v1/speakers/{id}/announcements") { _, context in
            try await announcer(context).snapshot()
        }
    }

    private func announcer(_ context: HallRequestContext) async throws -> Announcer {
        let id = try context.parameters.deviceID()
        guard let device = await services.registry.device(id) else { throw APIError.notFound("no device '\(id)'") }
        guard device.kind == .speaker, let announcer = services.announcers[id] else {
            throw APIError(.conflict, .unsupportedCommand, "\(id) is a \(device.kind.rawValue), not a speaker", device: id)
        }
        return announcer
    }
}

extension AnnouncementQueue: ResponseEncodable {}
