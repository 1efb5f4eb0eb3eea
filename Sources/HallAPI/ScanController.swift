import DeviceKit
import Foundation
import HallAPIModels
import Hummingbird
import Jobs

/// Scan jobs: submit on a scanner (`202` + `Location`), read, cancel, pages and the PDF.
struct ScanController {
    let services: APIServices

    func register(_ router: Router<HallRequestContext>) {
        router.post("/v1/scanners/{id}/jobs") { request, context in
            try context.require(.kiosk, to: "scanning")
            let scanner: any DocumentScanner = try await services.device(context, as: (any DocumentScanner).self, kind: .scanner)
            let body = try await request.decode(as: ScanJobRequest.self, context: context)
            let settings = try await validate(body, for: scanner.id)
            return services.accepted(await services.jobs.submitScan(scanner, settings: settings), path: "scan-jobs")
        }
        router.get("/v1/scan-jobs/{job}") { _, context in try await services.job(context, .scan) }
        router.delete("/v1/scan-jobs/{job}") { _, context in
            try context.require(.kiosk, to: "canceling a job")
            let id = try await services.job(context, .scan).id
            guard let job = await services.jobs.cancel(id) else { throw APIError.notFound("no scan job \(id)") }
            return job
        }
        router.get("/v1/scan-jobs/{job}/pages/{n}") { _, context in
            let job = try await services.job(context, .scan)
            let raw = context.parameters.get("n") ?? ""
            guard let n = Int(raw), let page = job.pages?.first(where: { $0.n == n }), let settings = job.settings else {
                throw APIError.notFound("scan job \(job.id) has no page '\(raw)' (pages: \(job.pages?.count ?? 0))")
            }
            let data = try services.jobs.spool.read(job: job.id, page: n, format: JobBoard.pageFormat(settings))
            return Response(status: .ok, headers: [.contentType: page.mediaType], body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
        }
        router.get("/v1/scan-jobs/{job}/document") { _, context in
            let job = try await services.job(context, .scan)
            guard job.settings?.format == "pdf" else { throw APIError.notFound("scan job \(job.id) is not a pdf job: fetch its pages") }
            guard job.state == .completed, let data = try? services.jobs.spool.readDocument(job: job.id) else {
                throw APIError(.conflict, .sequenceError, "scan job \(job.id) is \(job.state.rawValue): the PDF is written when the job completes")
            }
            return Response(status: .ok, headers: [.contentType: "application/pdf"], body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
        }    }

    private func validate(_ body: ScanJobRequest, for id: DeviceID) async throws -> ScanSettings {
        // A SANE scanner learns that a jam or open cover is cleared only by scanning again.
        if let s = await services.registry.snapshot(id), s.driver == "sane", s.isOpen, s.status.state == .userError {
        } else {
            try await services.ensureReady(id)
        }
        let caps = await services.registry.snapshot(id)?.capabilities ?? DeviceCapabilities()
        var s = ScanSettings()
        if let source = body.source {
            guard caps.sources?.contains(source) ?? true else { throw APIError.invalidData("source '\(source.rawValue)' is not offered by \(id)", field: "source") }
            s.source = source
        }
        if let mode = body.mode {
            guard caps.modes?.contains(mode) ?? true else { throw APIError.invalidData("mode '\(mode.rawValue)' is not offered by \(id)", field: "mode") }
            s.mode = mode
        }
        if let resolution = body.resolution {
            guard caps.resolutions?.contains(resolution) ?? (resolution > 0) else {
                throw APIError.invalidData("resolution \(resolution) is not one of \(caps.resolutions?.map(String.init).joined(separator: ", ") ?? "the scanner's")", field: "resolution")
            }
            s.resolution = resolution
        }
        if let format = body.format {
            guard caps.formats?.contains(format) ?? false else {
                throw APIError.invalidData("format '\(format)' is not one of \(caps.formats?.joined(separator: ", ") ?? "-")", field: "format")
            }
            s.format = format
        } else if let first = caps.formats?.first {
            s.format = first
        }
        if let maxPages = body.maxPages {
            guard maxPages >= 1 && maxPages <= 10_000 else { throw APIError.invalidData("maxPages must be 1 to 10000, not \(maxPages)", field: "maxPages") }
            s.maxPages = maxPages
        }
        return s
    }

}
