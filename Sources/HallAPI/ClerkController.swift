import DeviceKit
import Foundation
import Hall
import HallAPIModels
import Hummingbird

/// The roster (`/v1/clerks`) and who is signed in at a window.
struct ClerkController {
    let services: APIServices

    func register(_ router: Router<HallRequestContext>) {
        router.get("/v1/clerks") { request, context in
            try context.require(.clerk, to: "reading the roster")
            let removed = request.uri.queryParameters.get("removed") == "true"
            return try await services.withHall { await $0.clerkList(includeRemoved: removed) }
        }
        router.put("/v1/clerks/{staffId}") { request, context in
            try context.require(.manager, to: "changing the roster")
            let staffId = context.parameters.get("staffId") ?? ""
            let body = try await request.decode(as: ClerkRequest.self, context: context)
            let clerk = Clerk(
                staffId: staffId, name: body.name, unit: body.unit, title: body.title, phone: body.phone, photo: body.photo, partyMember: body.partyMember ?? false,
                services: body.services ?? [])
            return try await services.withHall { try await $0.putClerk(clerk) }
        }
        router.delete("/v1/clerks/{staffId}") { _, context in
            try context.require(.manager, to: "changing the roster")
            let staffId = context.parameters.get("staffId") ?? ""
            return try await services.withHall { try await $0.removeClerk(staffId) }
        }
        router.post("/v1/windows/{n}/sign-in") { request, context in
            try context.require(.clerk, to: "signing in")
            let n = try context.windowNumber()
            let body = try await request.decode(as: SignInRequest.self, context: context)
            guard let staffId = body.staffId ?? context.peer.flatMap({ services.workstationStaff[$0.uid] }) else {
                throw APIError.invalidData("staffId is required (this workstation's Unix user is not bound to one in [hall.workstations])", field: "staffId")
            }
            return try await services.withHall { try await $0.signIn(window: n, staffId: staffId) }
        }
        router.post("/v1/windows/{n}/sign-out") { _, context in
            try context.require(.clerk, to: "signing out")
            let n = try context.windowNumber()
            return try await services.withHall { try await $0.signOut(window: n) }
        }
    }
}

extension Clerk: ResponseEncodable {}

extension HallRequestContext {
    /// The `{n}` of a window route.
    func windowNumber() throws -> Int {
        let raw = parameters.get("n") ?? ""
        guard let n = Int(raw) else { throw APIError.invalidData("window '\(raw)' is not a number", field: "n") }
        return n
    }
}
