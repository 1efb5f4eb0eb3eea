import DeviceKit
import Foundation
import Hall
import HallAPIModels
import Hummingbird
import Synchronization

/// Tickets: issue (kiosk), list, one ticket, and a rating given another way than the keypad.
struct TicketController {
    let services: APIServices
    /// The last ticket list of each state, encoded (kiosks poll it far more often than it changes).
    let lists = TicketListAnswers()

    func register(_ router: Router<HallRequestContext>) {
        router.post("/v1/tickets") { request, context in
            try context.require(.kiosk, to: "issuing a ticket")
            let body = try await request.decode(as: IssueRequest.self, context: context)
            let ticket = try await services.withHall { try await $0.issue(service: body.service, priority: body.priority ?? .normal, appointment: body.appointment, print: body.print ?? false) }
            return jsonResponse(encoded: TicketJSON.encode(ticket), status: .created, headers: [.location: "/v1/tickets/\(ticket.id)"])
        }
        router.get("/v1/tickets") { request, context in
            try context.require(.clerk, to: "listing tickets")
            let state = try request.query("state", as: TicketState.self)
            return try await services.withHall { await lists.response(state, hall: $0) }
        }
        router.get("/v1/tickets/{ticket}") { _, context in
            let id = context.parameters.get("ticket") ?? ""
            return try await services.withHall { h in
                guard let t = await h.ticket(id) else { throw HallError.notFound("no ticket '\(id)' today") }
                return jsonResponse(encoded: TicketJSON.encode(t))
            }
        }
        router.post("/v1/tickets/{ticket}/notice") { request, context in
            try context.require(.clerk, to: "printing a one-time notice")
            let id = context.parameters.get("ticket") ?? ""
            let body = try await request.decode(as: NoticeRequest.self, context: context)
            let notice = try await services.withHall { try await $0.printNotice(ticket: id, window: body.window) }
            return jsonResponse(notice, status: .created)
        }
        router.get("/v1/tickets/{ticket}/notice") { request, context in
            try context.require(.clerk, to: "reading a one-time notice")
            let id = context.parameters.get("ticket") ?? ""
            let format = request.uri.queryParameters.get("format") ?? "json"
            guard format == "json" || format == "text" else { throw APIError.invalidData("format '\(format)' is not json or text", field: "format") }
            let notices = try await services.withHall { try await $0.notices(ticket: id) }
            guard let last = notices.last else { throw HallError.notFound("no notice was printed for ticket '\(id)'", field: "ticket") }
            guard format == "text" else { return jsonResponse(last) }
            return Response(status: .ok, headers: [.contentType: "text/plain; charset=utf-8"], body: ResponseBody(byteBuffer: ByteBuffer(string: last.text)))
        }
        router.post("/v1/tickets/{ticket}/rating") { request, context in
            try context.require(.clerk, to: "recording a rating")
            let id = context.parameters.get("ticket") ?? ""
            let body = try await request.decode(as: RatingRequest.self, context: context)
            guard let level = RatingLevel(parsing: body.level) else {
                throw APIError.invalidData("level '\(body.level)' is not one of \(RatingLevel.allCases.map(\.label).joined(separator: ", ")) (or 1-5 stars)", field: "level")
            }
            let rating = try await services.withHall { try await $0.rate(id, level: level, channel: body.channel ?? "api") }
            return jsonResponse(rating, status: .created)
        }
    }
}

extension Notice: ResponseEncodable {}

/// `GET /v1/tickets`'s answer for each state, encoded once for each list the hall
/// builds, however many requests ask for it meanwhile (the first encodes, the others
/// wait for it), and from the pieces of the lists before it where its tickets did not
/// change. Under a 200-client soak the ticket list, hundreds of waiting tickets polled
/// by every kiosk, was most of halld's CPU.
final class TicketListAnswers: Sendable {
    private let kept = Mutex<[TicketState?: (generation: Int, encoded: Task<ByteBuffer, Never>)]>([:])
    /// Each ticket's JSON as last written, shared by the lists of every state.
    private let writer = Writer()

    /// Writes the lists one after another, keeping the pieces between them (an actor:
    /// two lists written at once wait for each other without holding a thread).
    private actor Writer {
        var pieces: [String: TicketJSON.Piece] = [:]
        var stamp = 0

        func write(_ list: [Ticket]) -> ByteBuffer {
            stamp += 1
            return TicketJSON.encode(list, reusing: &pieces, stamp: stamp)
        }
    }

    func response(_ state: TicketState?, hall: Hall) async -> Response {
        let mine = kept.withLock { $0[state] }
        guard let fresh = await hall.list(state: state, ifChangedSince: mine?.generation) else { return jsonResponse(encoded: await mine!.encoded.value) }
        let encoded = kept.withLock { k in
            if let current = k[state], current.generation >= fresh.generation { return current.encoded }
            // Written on the cooperative pool, not on the connection's event loop.
            let task = Task(executorPreference: globalConcurrentExecutor) { [writer] in await writer.write(fresh.list) }
            k[state] = (fresh.generation, task)
            return task
        }
        return jsonResponse(encoded: await encoded.value)
    }

}
