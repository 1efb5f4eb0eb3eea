import DeviceKit
import Foundation
import Hall
import HallAPIModels
import Hummingbird

/// The 办不成事 ledger: written by clerks, resolved later, read and exported as CSV.
struct LedgerController {
    let services: APIServices

    func register(_ router: Router<HallRequestContext>) {
        router.post("/v1/ledger") { request, context in
            try context.require(.clerk, to: "writing the 办不成事 ledger")
            let body = try await request.decode(as: LedgerRequest.self, context: context)
            let entry = try await services.withHall {
                try await $0.addLedgerEntry(
                    matter: body.matter, contact: body.contact, reason: body.reason, window: body.window, staffId: body.staffId, handler: body.handler)
            }
            return jsonResponse(entry, status: .created, headers: [.location: "/v1/ledger/\(entry.id)"])
        }
        router.put("/v1/ledger/{id}") { request, context in
            try context.require(.clerk, to: "resolving a ledger entry")
            let id = context.parameters.get("id") ?? ""
            let body = try await request.decode(as: LedgerResolution.self, context: context)
            return try await services.withHall { try await $0.resolveLedgerEntry(id, resolution: body.resolution, by: body.resolvedBy) }
        }
        router.get("/v1/ledger") { request, context in
            try context.require(.clerk, to: "reading the 办不成事 ledger")
            let q = request.uri.queryParameters
            let csv = try request.wantsCSV()
            let state = try request.query("state", as: LedgerEntry.State.self)
            let (entries, zone) = try await services.withHall { h in
                let today = h.day(Date())
                return (try await h.ledger(from: q.get("from") ?? today, to: q.get("to") ?? q.get("from") ?? today, state: state), h.setup.timeZone)
            }
            return csv ? csvResponse(LedgerEntry.csv(entries, timeZone: zone), filename: "ledger.csv") : jsonResponse(entries)
        }
    }
}

extension LedgerEntry: ResponseEncodable {}
