import DeviceKit
import Foundation
import Hall
import HallAPIModels
import Hummingbird

extension HallSummary: ResponseEncodable {}
extension Ticket: ResponseEncodable {}
extension HallWindow: ResponseEncodable {}
extension Rating: ResponseEncodable {}
extension HallStats: ResponseEncodable {}

/// The hall: tickets, windows, ratings, statistics (API.md, Hall).
struct HallController {
    let services: APIServices

    /// Runs a hall operation; a `HallError` answers with its status and the field it names.
    private func hall<T>(_ body: (Hall) async throws -> T) async throws -> T {
        guard let hall = services.hall else { throw APIError.notFound("this halld has no [hall] in its configuration") }
        return try await body(hall)
    }

    private func window(_ context: HallRequestContext) throws -> Int {
        let raw = context.parameters.get("n") ?? ""
        guard let n = Int(raw) else { throw APIError.invalidData("window '\(raw)' is not a number", field: "n") }
        return n
    }

    func register(_ router: Router<HallRequestContext>) {
        router.get("/v1/hall") { _, _ in
            try await hall { h in
                let (windows, waiting) = (await h.windowList(), await h.waitingCounts())
                return HallSummary(name: h.setup.name, services: h.setup.services, windows: windows, waiting: waiting)
            }
        }
        router.post("/v1/tickets") { request, context in
            try context.require(.kiosk, to: "issuing a ticket")
            let body = try await request.decode(as: IssueRequest.self, context: context)
            let ticket = try await hall { try await $0.issue(service: body.service, priority: body.priority ?? .normal, appointment: body.appointment, print: body.print ?? false) }
            return jsonResponse(ticket, status: .created, headers: [.location: "/v1/tickets/\(ticket.id)"])
        }
        router.get("/v1/tickets") { request, context in
            try context.require(.clerk, to: "listing tickets")
            var state: TicketState?
            if let raw = request.uri.queryParameters.get("state") {
                guard let s = TicketState(rawValue: raw) else {
                    throw APIError.invalidData("state '\(raw)' is not one of \(TicketState.allCases.map(\.rawValue).joined(separator: ", "))", field: "state")
                }
                state = s
            }
            return try await hall { await $0.list(state: state) }
        }
        router.get("/v1/tickets/{ticket}") { _, context in
            let id = context.parameters.get("ticket") ?? ""
            return try await hall { h in
                guard let t = await h.ticket(id) else { throw HallError.notFound("no ticket '\(id)' today") }
                return t
            }
        }
        router.post("/v1/tickets/{ticket}/rating") { request, context in
            try context.require(.clerk, to: "recording a rating")
            let id = context.parameters.get("ticket") ?? ""
            let body = try await request.decode(as: RatingRequest.self, context: context)
            guard let level = RatingLevel(parsing: body.level) else {
                throw APIError.invalidData("level '\(body.level)' is not one of \(RatingLevel.allCases.map(\.label).joined(separator: ", ")) (or 1-5 stars)", field: "level")
            }
            let rating = try await hall { try await $0.rate(id, level: level, channel: body.channel ?? "api") }
            return jsonResponse(rating, status: .created)
        }
        router.post("/v1/appointments") { request, context in
            try context.require(.clerk, to: "registering an appointment")
            let body = try await request.decode(as: AppointmentRequest.self, context: context)
            guard !body.code.isEmpty, body.code.count <= 32 else { throw APIError.invalidData("code must be 1 to 32 characters", field: "code") }
            try await hall { try await $0.addAppointment(code: body.code, service: body.service, slot: body.slot) }
            return Response(status: .noContent)
        }
        router.post("/v1/windows/{n}/call-next") { _, context in
            try context.require(.clerk, to: "calling")
            let n = try window(context)
            guard let t = try await hall({ try await $0.callNext(window: n) }) else { return Response(status: .noContent) }
            return jsonResponse(t)
        }
        router.post("/v1/windows/{n}/recall") { _, context in
            try context.require(.clerk, to: "recalling")
            let n = try window(context)
            return try await hall { try await $0.recall(window: n) }
        }
        router.post("/v1/windows/{n}/no-show") { _, context in
            try context.require(.clerk, to: "marking a no-show")
            let n = try window(context)
            return try await hall { try await $0.noShow(window: n) }
        }
        router.post("/v1/windows/{n}/complete") { _, context in
            try context.require(.clerk, to: "completing")
            let n = try window(context)
            return try await hall { try await $0.complete(window: n) }
        }
        router.post("/v1/windows/{n}/transfer") { request, context in
            try context.require(.clerk, to: "transferring")
            let n = try window(context)
            let body = try await request.decode(as: TransferRequest.self, context: context)
            return try await hall { try await $0.transfer(window: n, to: body.service) }
        }
        router.put("/v1/windows/{n}/status") { request, context in
            try context.require(.clerk, to: "changing a window's state")
            let n = try window(context)
            let body = try await request.decode(as: WindowStatusRequest.self, context: context)
            return try await hall { try await $0.setStatus(window: n, state: body.state, away: body.away) }
        }
        router.put("/v1/windows/{n}/clerk") { request, context in
            try context.require(.clerk, to: "setting the clerk card")
            let n = try window(context)
            let body = try await request.decode(as: ClerkCard.self, context: context)
            return try await hall { try await $0.setClerk(window: n, body) }
        }
        router.get("/v1/ratings") { request, context in
            try context.require(.clerk, to: "reading ratings")
            let q = request.uri.queryParameters
            let from = try q.get("from").map { try Self.date($0, field: "from") } ?? Date(timeIntervalSinceNow: -86_400)
            let to = try q.get("to").map { try Self.date($0, field: "to") } ?? Date(timeIntervalSinceNow: 60)
            let window = try q.get("window").map { raw -> Int in
                guard let n = Int(raw) else { throw APIError.invalidData("window '\(raw)' is not a number", field: "window") }
                return n
            }
            if let raw = q.get("bad"), raw != "true", raw != "false" { throw APIError.invalidData("bad '\(raw)' is not true or false", field: "bad") }
            let bad = q.get("bad") == "true"
            let list = try await hall { try await $0.ratings(from: from, to: to, window: window) }
            // Bad ratings (不满意, 非常不满意) need follow-up.
            return bad ? list.filter { $0.level == .dissatisfied || $0.level == .veryDissatisfied } : list
        }
        router.get("/v1/stats") { request, context in
            try context.require(.clerk, to: "reading statistics")
            let q = request.uri.queryParameters
            let stats = try await hall { h in
                let today = await h.day(Date())
                let date = q.get("date") ?? today
                guard date.count == 10, date.split(separator: "-").count == 3 else { throw DeviceError(.invalidData, "date: expected YYYY-MM-DD, found \(date)") }
                return try await h.stats(date: date)
            }
            if let format = q.get("format"), format != "csv", format != "json" {
                throw APIError.invalidData("format '\(format)' is not json or csv", field: "format")
            }
            if q.get("format") == "csv" {
                return Response(status: .ok, headers: [.contentType: "text/csv; charset=utf-8"], body: ResponseBody(byteBuffer: ByteBuffer(string: stats.csv)))
            }
            return jsonResponse(stats)
        }
    }

    static func date(_ raw: String, field: String) throws -> Date {
        if let d = ISO8601DateFormatter().date(from: raw) { return d }
        let f = DateFormatter()
        f.dateFormat = "yyyy-MM-dd"
        f.timeZone = TimeZone(identifier: "Asia/Shanghai")
        if let d = f.date(from: raw) { return d }
        throw APIError.invalidData("\(field) '\(raw)' is not an ISO 8601 time or a date YYYY-MM-DD", field: field)
    }
}
