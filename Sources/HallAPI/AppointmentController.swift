import DeviceKit
import Foundation
import Hall
import HallAPIModels
import Hummingbird

/// Appointments from the booking system, checked in later with their code.
struct AppointmentController {
    let services: APIServices

    func register(_ router: Router<HallRequestContext>) {
        router.post("/v1/appointments") { request, context in
            try context.require(.clerk, to: "registering an appointment")
            let body = try await request.decode(as: AppointmentRequest.self, context: context)
            guard !body.code.isEmpty, body.code.count <= 32 else { throw APIError.invalidData("code must be 1 to 32 characters", field: "code") }
            try await services.withHall { try await $0.addAppointment(code: body.code, service: body.service, slot: body.slot) }
            return Response(status: .noContent)
        }
    }
}
