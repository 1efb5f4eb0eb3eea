import DeviceKit
import Foundation
import Hall
import HallAPIModels
import Hummingbird

/// Bad ratings' follow-ups (差评整改): listed by state, owned and closed with a result.
struct FollowUpController {
    let services: APIServices

    func register(_ router: Router<HallRequestContext>) {
        router.get("/v1/follow-ups") { request, context in
            try context.require(.clerk, to: "reading follow-ups")
            let csv = try request.wantsCSV()
            let state = request.uri.queryParameters.get("state")
            let (items, zone) = try await services.withHall { h in (try await h.followUpList(state: state), h.setup.timeZone) }
            return csv ? csvResponse(FollowUp.csv(items, timeZone: zone, now: Date()), filename: "follow-ups.csv") : jsonResponse(items)
        }
        router.put("/v1/follow-ups/{id}") { request, context in
            try context.require(.manager, to: "following up a bad rating")
            let id = context.parameters.get("id") ?? ""
            let body = try await request.decode(as: FollowUpUpdate.self, context: context)
            return try await services.withHall {
                try await $0.updateFollowUp(id, owner: body.owner, result: body.result, close: body.close ?? false, closedBy: body.closedBy)
            }
        }
    }
}

extension FollowUp: ResponseEncodable {}
