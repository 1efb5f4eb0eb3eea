import DeviceKit
import Foundation
import HallAPIModels
import Hummingbird
import Jobs

/// Rating jobs on a keypad (read, cancel), and key presses on a simulated keypad.
struct KeypadController {
    let services: APIServices

    func register(_ router: Router<HallRequestContext>) {
        router.post("/v1/keypads/{id}/ratings") { request, context in
            try context.require(.clerk, to: "asking for a rating")
            let keypad: any EvaluationKeypad = try await services.device(context, as: (any EvaluationKeypad).self, kind: .keypad)
            let body = try await request.decode(as: RatingJobRequest.self, context: context)
            let timeout = body.timeoutSeconds ?? 30
            guard (1...600).contains(timeout) else { throw APIError.invalidData("timeoutSeconds must be 1 to 600, not \(timeout)", field: "timeoutSeconds") }
            if let ticket = body.ticket, ticket.isEmpty || ticket.count > 32 {
                throw APIError.invalidData("ticket must be 1 to 32 characters", field: "ticket")
            }
            try await services.ensureReady(keypad.id)
            return services.accepted(await services.jobs.submitRating(keypad, ticket: body.ticket, timeout: .seconds(timeout)), path: "rating-jobs")
        }
        router.post("/v1/keypads/{id}/press") { request, context in
            try context.require(.technician, to: "pressing a simulated key")
            let id = try context.parameters.deviceID()
            guard let device = await services.registry.device(id) else { throw APIError.notFound("no device '\(id)'") }
            guard let keypad = device as? any KeyPressable else {
                throw APIError(.conflict, .unsupportedCommand, "\(id) is not a simulated keypad: a person presses its keys", device: id)
            }
            let body = try await request.decode(as: PressRequest.self, context: context)
            guard let level = RatingLevel(parsing: body.level) else {
                throw APIError.invalidData(
                    "level '\(body.level)' is not one of \(RatingLevel.allCases.map(\.rawValue).joined(separator: ", ")), their labels, or 1-5", field: "level")
            }
            let rated = try await keypad.press(level)
            await services.registry.settle(id)
            return PressResponse(level: level, rated: rated)
        }
        router.get("/v1/rating-jobs/{job}") { _, context in try await services.job(context, .rating) }
        router.delete("/v1/rating-jobs/{job}") { _, context in
            try context.require(.clerk, to: "canceling a job")
            let id = try await services.job(context, .rating).id
            guard let job = await services.jobs.cancel(id) else { throw APIError.notFound("no rating job \(id)") }
            return job
        }
    }
}
