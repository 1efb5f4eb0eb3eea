import DeviceKit
import Foundation
import Hall
import HallAPIModels
import Hummingbird

/// Appointments (预约), the whole life: registered by the booking system or a clerk,
/// listed by day (JSON or CSV), cancelled, checked in with `POST /v1/tickets
/// {"appointment": CODE}`; the ones never checked in become no-shows.
struct AppointmentController {
    let services: APIServices

    func register(_ router: Router<HallRequestContext>) {
        router.post("/v1/appointments") { request, context in
            try context.require(.clerk, to: "registering an appointment")
            let body = try await request.decode(as: AppointmentRequest.self, context: context)
            let a = try await services.withHall {
                try await $0.register(code: body.code, service: body.service, day: body.day, slot: body.slot, name: body.name, phone: body.phone)
            }
            return jsonResponse(a, status: .created, headers: [.location: "/v1/appointments/\(a.code)"])
        }
        router.get("/v1/appointments") { request, context in
            try context.require(.clerk, to: "listing appointments")
            let q = request.uri.queryParameters
            let csv = try request.wantsCSV()
            let state = try request.query("state", as: Appointment.State.self)
            let (list, zone) = try await services.withHall { h in
                let date: String
                if let d = q.get("date") { date = d } else { date = await h.currentDay() }
                return (try await h.appointments(day: date).filter { state == nil || $0.state == state }, h.setup.timeZone)
            }
            return csv ? csvResponse(Appointment.csv(list, timeZone: zone), filename: "appointments.csv") : jsonResponse(list)
        }
        router.get("/v1/appointments/{code}") { _, context in
            try context.require(.kiosk, to: "reading an appointment")
            let code = context.parameters.get("code") ?? ""
            return try await services.withHall { h in
                guard let a = try await h.appointment(code) else { throw HallError.notFound("no appointment '\(code)'", field: "code") }
                return a
            }
        }
        router.delete("/v1/appointments/{code}") { _, context in
            try context.require(.kiosk, to: "cancelling an appointment")
            let code = context.parameters.get("code") ?? ""
            let who = context.peer.map { "uid \($0.uid)" } ?? context.role.rawValue
            return try await services.withHall { try await $0.cancelAppointment(code, by: who) }
        }
    }
}

extension Appointment: ResponseEncodable {}

/// The services now (open, on duty, closed, the next opening) and each one's public
/// entry (服务事项公开): for kiosks and boards.
struct ServiceController {
    let services: APIServices

    func register(_ router: Router<HallRequestContext>) {
        router.get("/v1/services") { _, context in
            try context.require(.display, to: "reading the services")
            return try await services.withHall { await $0.serviceStates() }
        }
        router.get("/v1/services/{code}") { _, context in
            try context.require(.display, to: "reading a service")
            let code = context.parameters.get("code") ?? ""
            return try await services.withHall { try await $0.serviceState(code) }
        }
    }
}

extension ServiceState: ResponseEncodable {}
