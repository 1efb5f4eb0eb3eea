import DeviceKit
import Foundation
import Hall
import HallAPIModels
import Hummingbird

/// Ratings by time and window; `bad=true` for those that need follow-up.
struct RatingController {
    let services: APIServices

    func register(_ router: Router<HallRequestContext>) {
        router.get("/v1/ratings") { request, context in
            try context.require(.clerk, to: "reading ratings")
            let q = request.uri.queryParameters
            let from = try q.get("from").map { try HallController.date($0, field: "from") } ?? Date(timeIntervalSinceNow: -86_400)
            let to = try q.get("to").map { try HallController.date($0, field: "to") } ?? Date(timeIntervalSinceNow: 60)
            let window = try q.get("window").map { raw -> Int in
                guard let n = Int(raw) else { throw APIError.invalidData("window '\(raw)' is not a number", field: "window") }
                return n
            }
            if let raw = q.get("bad"), raw != "true", raw != "false" { throw APIError.invalidData("bad '\(raw)' is not true or false", field: "bad") }
            let bad = q.get("bad") == "true"
            let list = try await services.withHall { try await $0.ratings(from: from, to: to, window: window) }
            // Bad ratings (不满意, 非常不满意) need follow-up.
            return bad ? list.filter { $0.level == .dissatisfied || $0.level == .veryDissatisfied } : list
        }
    }
}
