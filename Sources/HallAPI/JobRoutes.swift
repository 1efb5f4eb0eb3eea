import DeviceKit
import Foundation
import HallAPIModels
import Hummingbird
import Jobs

/// What the job routes share: the `202 Accepted` answer, finding a job or a device of
/// the right kind, and refusing work for a device that cannot take it now.
extension APIServices {
    func accepted(_ job: Job, path: String) -> Response {
        jsonResponse(job, status: .accepted, headers: [.location: "/v1/\(path)/\(job.id)"])
    }

    func job(_ context: HallRequestContext, _ kind: JobKind) async throws -> Job {
        let id = context.parameters.get("job") ?? ""
        guard let job = await jobs.lookup(id), job.kind == kind else { throw APIError.notFound("no \(kind.rawValue) job '\(id)'") }
        return job
    }

    func device<T>(_ context: HallRequestContext, as: T.Type, kind: DeviceKind) async throws -> T {
        let id = try context.parameters.deviceID()
        guard let device = await registry.device(id) else { throw APIError.notFound("no device '\(id)'") }
        guard let typed = device as? T else {
            throw APIError(.conflict, .unsupportedCommand, "\(id) is a \(device.kind.rawValue), not a \(kind.rawValue)", device: id)
        }
        return typed
    }

    /// Refuses work for a device that cannot take it now, with its state and reasons.
    func ensureReady(_ id: DeviceID) async throws {
        guard let s = await registry.snapshot(id) else { throw APIError.notFound("no device '\(id)'") }
        if !s.isOpen || !s.status.state.acceptsWork { throw APIError(DeviceError.notReady(id, s.status)) }
    }

    /// A CUPS queue takes jobs while its printer is off (they wait in the queue and
    /// print when it is back); other states refuse work as for any device.
    func ensurePrinterReady(_ printer: any Printer) async throws {
        guard let s = await registry.snapshot(printer.id) else { throw APIError.notFound("no device '\(printer.id)'") }
        if printer.driver == "cups", s.isOpen, s.status.state == .offline, !s.status.reasons.contains("queue-rejecting-jobs") { return }
        try await ensureReady(printer.id)
    }
}
