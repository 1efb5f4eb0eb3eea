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
            let q = request.uri.queryParameters
            let format = q.get("format") ?? "json"
            guard format == "json" || format == "csv" else { throw APIError.invalidData("format '\(format)' is not json or csv", field: "format") }
            let state = q.get("state")
            let (items, zone) = try await services.withHall { h in (try await h.followUpList(state: state), h.setup.timeZone) }
            guard format == "csv" else { return jsonResponse(items) }
            return Response(
                status: .ok, headers: [.contentType: "text/csv; charset=utf-8", .contentDisposition: "attachment; filename=\"follow-ups.csv\""],
                body: ResponseBody(byteBuffer: ByteBuffer(string: FollowUp.csv(items, timeZone: zone, now: Date()))))
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
