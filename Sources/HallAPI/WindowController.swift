import DeviceKit
import Foundation
import Hall
import HallAPIModels
import Hummingbird

/// A window's work: call, recall, no-show, complete, transfer, its state and clerk card.
struct WindowController {
    let services: APIServices

    func register(_ router: Router<HallRequestContext>) {
        router.post("/v1/windows/{n}/call-next") { _, context in
            try context.require(.clerk, to: "calling")
            let n = try context.windowNumber()
            guard let t = try await services.withHall({ try await $0.callNext(window: n) }) else { return Response(status: .noContent) }
            return jsonResponse(t)
        }
        router.post("/v1/windows/{n}/recall") { _, context in
            try context.require(.clerk, to: "recalling")
            let n = try context.windowNumber()
            return try await services.withHall { try await $0.recall(window: n) }
        }
        router.post("/v1/windows/{n}/no-show") { _, context in
            try context.require(.clerk, to: "marking a no-show")
            let n = try context.windowNumber()
            return try await services.withHall { try await $0.noShow(window: n) }
        }
        router.post("/v1/windows/{n}/complete") { _, context in
            try context.require(.clerk, to: "completing")
            let n = try context.windowNumber()
            return try await services.withHall { try await $0.complete(window: n) }
        }
        router.post("/v1/windows/{n}/transfer") { request, context in
            try context.require(.clerk, to: "transferring")
            let n = try context.windowNumber()
            let body = try await request.decode(as: TransferRequest.self, context: context)
            return try await services.withHall { try await $0.transfer(window: n, to: body.service) }
        }
        router.put("/v1/windows/{n}/status") { request, context in
            try context.require(.clerk, to: "changing a window's state")
            let n = try context.windowNumber()
            let body = try await request.decode(as: WindowStatusRequest.self, context: context)
            return try await services.withHall { try await $0.setStatus(window: n, state: body.state, away: body.away) }
        }
        router.put("/v1/windows/{n}/clerk") { request, context in
            try context.require(.clerk, to: "setting the clerk card")
            let n = try context.windowNumber()
            let body = try await request.decode(as: ClerkCard.self, context: context)
            return try await services.withHall { try await $0.setClerk(window: n, body) }
        }
    }
}
