import DeviceKit
import Foundation
import Hall
import HallAPIModels
import Hummingbird
import Synchronization

extension HallSummary: ResponseEncodable {}
extension Ticket: ResponseEncodable {}
extension HallWindow: ResponseEncodable {}
extension Rating: ResponseEncodable {}
extension HallStats: ResponseEncodable {}
extension DistrictStats: ResponseEncodable {}

extension APIServices {
    /// Runs a hall operation; a `HallError` answers with its status and the field it names.
    /// In a shared hall, while the store is lost (or the hall still being joined), it
    /// answers 503 `hallStoreUnavailable` at once.
    func withHall<T>(_ body: (Hall) async throws -> T) async throws -> T {
        guard let hall else { throw APIError.notFound("this halld has no [hall] in its configuration") }
        if let unavailable = hallUnavailable?() { throw unavailable }
        return try await body(hall)
    }
}

/// The hall as a whole: `GET /v1/hall` (services, windows, who waits) and the day's
/// statistics. Tickets, windows, ratings and appointments have controllers of their own.
struct HallController {
    let services: APIServices
    /// `GET /v1/hall`'s last answer and the hall revision it shows: encoded again only
    /// when the hall changed (JSONEncoder was a fifth of the request's CPU time).
    let summaries = VersionedAnswers<Int>()

    func register(_ router: Router<HallRequestContext>) {
        router.get("/v1/hall") { _, _ in
            try await services.withHall { h in
                // An unchanged hall is answered without asking the hall actor.
                if let kept = summaries.kept(0), h.isCurrent(kept.version) { return jsonResponse(encoded: kept.body) }
                return try await summaries.response(0) { known in
                    await h.summary(ifChangedSince: known).map { ($0.revision, $0) }
                } encode: { fresh in
                    ByteBuffer(bytes: try jsonEncoder.encode(HallSummary(name: h.setup.name, services: h.setup.services, windows: fresh.windows, waiting: fresh.waiting)))
                }
            }
        }
        router.get("/v1/stats") { request, context in
            try context.require(.clerk, to: "reading statistics")
            let q = request.uri.queryParameters
            let csv = try request.wantsCSV()
            switch q.get("hall") {
            case nil:
                break
            case "all":
                guard context.role == .district || context.role == .technician else {
                    throw APIError.notAuthorized("the district's statistics (hall=all) need the district or technician role; this connection is \(context.role.rawValue)")
                }
                let stats = try await services.withHall { h in try await h.districtStats(date: try Self.day(q.get("date"), hall: h)) }
                return csv ? csvResponse(stats.csv) : jsonResponse(stats)
            case let other?:
                throw APIError.invalidData("hall '\(other)': only hall=all (every hall of the database) is known; leave it out for this hall", field: "hall")
            }
            let given = ["date", "month", "year"].filter { q.get($0) != nil }
            if given.count > 1 { throw APIError.invalidData("give one of date, month and year, not \(given.joined(separator: " and "))", field: given[1]) }
            if let month = q.get("month"), month.count != 7 { throw APIError.invalidData("month: expected YYYY-MM, found \(month)", field: "month") }
            if let year = q.get("year"), year.count != 4 || Int(year) == nil { throw APIError.invalidData("year: expected YYYY, found \(year)", field: "year") }
            let by = q.get("by")
            if let by, !["service", "window", "clerk", "unit"].contains(by) {
                throw APIError.invalidData("by '\(by)' is not service, window, clerk or unit", field: "by")
            }
            var stats = try await services.withHall { h in
                try await h.stats(period: try q.get("month") ?? q.get("year") ?? Self.day(q.get("date"), hall: h), field: given.first ?? "date")
            }
            if let by { stats = stats.only(by) }
            return csv ? csvResponse(stats.csv) : jsonResponse(stats)
        }
    }

    /// `date=YYYY-MM-DD`, today (the hall's day) when absent.
    static func day(_ raw: String?, hall: Hall) throws -> String {
        let date = raw ?? hall.day(Date())
        guard date.count == 10, date.split(separator: "-").count == 3 else { throw APIError.invalidData("date: expected YYYY-MM-DD, found \(date)", field: "date") }
        return date
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
