import DeviceKit
import Foundation
import Hall
import HallAPIModels
import Hummingbird

/// Tickets: issue (kiosk), list, one ticket, and a rating given another way than the keypad.
struct TicketController {
    let services: APIServices
    /// The last ticket list of each state, encoded (kiosks poll it far more often than it changes).
    let lists = VersionedAnswers<TicketState?>()

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
            return try await services.withHall { h in
                try await lists.response(state) { known in await h.list(state: state, ifChangedSince: known).map { ($0.generation, $0.list) } } encode: { TicketJSON.encode($0) }
            }
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
