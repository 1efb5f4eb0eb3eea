import DeviceKit
import HallAPIModels
import Foundation
import Hummingbird

/// `/v1/devices`: list, detail, health checks, reset, fault injection.
struct DeviceController {
    let services: APIServices
    /// `GET /v1/devices`: polled by kiosks and consoles, changed by a device's state.
    let answers = EncodedAnswers<[DeviceSummary]>()

    func register(_ router: Router<HallRequestContext>) {
        router.get("/v1/devices") { request, _ in
            var kind: DeviceKind?
            if let raw = request.uri.queryParameters.get("kind") {
                guard let k = DeviceKind(rawValue: raw) else {
                    throw APIError.invalidData("kind '\(raw)' is not one of \(DeviceKind.allCases.map(\.rawValue).joined(separator: ", "))", field: "kind")
                }
                kind = k
            }
            // Unchanged devices are answered without asking the registry actor: its
            // change count is read first, so a change while it is asked is not missed.
            let (key, version) = (kind?.rawValue ?? "", services.registry.revision)
            if let kept = answers.kept(key, version: version) { return kept }
            return try answers.response(await services.registry.snapshots(kind: kind).map(DeviceSummary.init), key: key, version: version)
        }
        router.get("/v1/devices/{id}") { _, context in
            DeviceDetail(try await snapshot(context))
        }
        router.post("/v1/devices/{id}/health") { request, context in
            let device = try await device(context)
            let body = try await request.decode(as: HealthCheckRequest.self, context: context)
            if body.level != .internal { try context.require(.technician, to: "an \(body.level.rawValue) health check") }
            if body.level == .interactive { return try await services.interactiveChecks.run(device, services: services) }
            return try await device.healthCheck(body.level)
        }
        router.post("/v1/devices/{id}/health/confirm") { request, context in
            try context.require(.technician, to: "confirming an interactive check")
            let device = try await device(context)
            let body = try await request.decode(as: HealthConfirmation.self, context: context)
            guard services.interactiveChecks.confirm(device.id, body) else {
                throw APIError(.conflict, .sequenceError, "no interactive check of \(device.id) is waiting for a confirmation", device: device.id)
            }
            return body
        }
        router.post("/v1/devices/{id}/reset") { _, context in
            try context.require(.technician, to: "resetting a device")
            let id = try context.parameters.deviceID()
            guard await services.registry.device(id) != nil else { throw APIError.notFound("no device '\(id)'") }
            return DeviceDetail(try await services.registry.reset(id))
        }
        registerRecording(router)
        router.post("/v1/devices/{id}/faults") { request, context in
            try context.require(.technician, to: "injecting a fault")
            let device = try await device(context)
            let body = try await request.decode(as: FaultRequest.self, context: context)
            guard let simulated = device as? any FaultInjectable else {
                throw APIError(.conflict, .unsupportedCommand, "\(device.id) is driven by '\(device.driver)': faults are injected into simulated devices only", device: device.id)
            }
            try await simulated.inject(body.fault)
            // Answer with the state the registry shows once it applied what the device signalled.
            await services.registry.settle(device.id)
            return DeviceDetail(try await snapshot(context))
        }
    }

    /// Serial traffic recordings, written under `<state_dir>/recordings`.
    func registerRecording(_ router: Router<HallRequestContext>) {
        router.post("/v1/devices/{id}/recording") { request, context in
            try context.require(.technician, to: "recording serial traffic")
            let device = try await device(context)
            let body = try await request.decode(as: RecordingRequest.self, context: context)
            let seconds = body.seconds ?? 600
            guard (1...86_400).contains(seconds) else { throw APIError.invalidData("seconds must be 1 to 86400, found \(seconds)", field: "seconds") }
            guard let recordable = device as? any TrafficRecordable else {
                throw APIError(.conflict, .unsupportedCommand, "\(device.id) is driven by '\(device.driver)': only serial devices record their traffic", device: device.id)
            }
            let folder = services.info.stateDir + "/recordings"
            do {
                try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            } catch {
                throw APIError(.internalServerError, .hardwareError, "cannot create \(folder): \(error.localizedDescription)", device: device.id)
            }
            let stamp = Date().ISO8601Format().filter { $0 != ":" && $0 != "-" }
            let file = "\(folder)/\(device.id)-\(stamp).rec"
            try await recordable.startRecording(file: file, for: .seconds(seconds))
            context.logger.notice("recording the line of \(device.id) to \(file) for \(seconds) s")
            return RecordingResponse(device: device.id, file: file, seconds: seconds)
        }
        router.delete("/v1/devices/{id}/recording") { _, context in
            try context.require(.technician, to: "recording serial traffic")
            let device = try await device(context)
            guard let recordable = device as? any TrafficRecordable, let summary = await recordable.stopRecording() else {
                throw APIError.notFound("\(device.id) has no recording running")
            }
            context.logger.notice("recording of \(device.id) stopped: \(summary.chunks) chunks in \(summary.file)")
            return RecordingResponse(device: device.id, file: summary.file, chunks: summary.chunks)
        }
    }

    private func device(_ context: HallRequestContext) async throws -> any Device {
        let id = try context.parameters.deviceID()
        guard let device = await services.registry.device(id) else { throw APIError.notFound("no device '\(id)'") }
        return device
    }

    private func snapshot(_ context: HallRequestContext) async throws -> DeviceSnapshot {
        let id = try context.parameters.deviceID()
        guard let s = await services.registry.snapshot(id) else { throw APIError.notFound("no device '\(id)'") }
        return s
    }
}

extension HealthConfirmation: ResponseEncodable {}
extension HealthReport: ResponseEncodable {}
extension DeviceDetail: ResponseEncodable {}
extension RecordingResponse: ResponseEncodable {}
extension DeviceSummary: ResponseEncodable {}
extension InfoResponse: ResponseEncodable {}
extension Job: ResponseEncodable {}
extension DisplayContent: ResponseEncodable {}
extension PressResponse: ResponseEncodable {}
