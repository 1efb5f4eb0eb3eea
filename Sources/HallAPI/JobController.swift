import DeviceKit
import Foundation
import HallAPIModels
import Hummingbird
import Jobs

/// Scan, print and rating jobs: submit (`202` + `Location`), read, cancel, pages.
struct JobController {
    let services: APIServices

    func register(_ router: Router<HallRequestContext>) {
        router.post("/v1/scanners/{id}/jobs") { request, context in
            try context.require(.kiosk, to: "scanning")
            let scanner: any DocumentScanner = try await device(context, as: (any DocumentScanner).self, kind: .scanner)
            let body = try await request.decode(as: ScanJobRequest.self, context: context)
            let settings = try await validate(body, for: scanner.id)
            return accepted(await services.jobs.submitScan(scanner, settings: settings), path: "scan-jobs")
        }
        router.post("/v1/printers/{id}/jobs") { request, context in
            try context.require(.kiosk, to: "printing")
            let printer: any Printer = try await device(context, as: (any Printer).self, kind: .printer)
            let document = try await printDocument(request, context: context, printer: printer)
            return accepted(try await services.jobs.submitPrint(printer, document: document), path: "print-jobs")
        }
        router.get("/v1/print-jobs") { request, context in
            try context.require(.clerk, to: "listing print jobs")
            var state: JobState?
            if let raw = request.uri.queryParameters.get("state") {
                guard let s = JobState(rawValue: raw) else {
                    throw APIError.invalidData("state '\(raw)' is not one of \(JobState.allCases.map(\.rawValue).joined(separator: ", "))", field: "state")
                }
                state = s
            }
            let limit = Int(request.uri.queryParameters.get("limit") ?? "100") ?? -1
            guard (1...1000).contains(limit) else { throw APIError.invalidData("limit must be 1 to 1000", field: "limit") }
            return try await services.jobs.printJobs(state: state, limit: limit)
        }
        router.post("/v1/print-jobs/{job}/reprint") { _, context in
            try context.require(.kiosk, to: "printing")
            let original = try await job(context, .print)
            guard let document = try await services.jobs.printedDocument(original.id) else {
                throw APIError.notFound("print job \(original.id) has no recorded document to print again")
            }
            guard let printer = await services.registry.device(original.device) as? any Printer else {
                throw APIError.notFound("printer '\(original.device)' of job \(original.id) is no longer configured")
            }
            try await ensurePrinterReady(printer)
            return accepted(try await services.jobs.submitPrint(printer, document: document, reprintOf: original.id), path: "print-jobs")
        }
        router.post("/v1/keypads/{id}/ratings") { request, context in
            try context.require(.clerk, to: "asking for a rating")
            let keypad: any EvaluationKeypad = try await device(context, as: (any EvaluationKeypad).self, kind: .keypad)
            let body = try await request.decode(as: RatingJobRequest.self, context: context)
            let timeout = body.timeoutSeconds ?? 30
            guard (1...600).contains(timeout) else { throw APIError.invalidData("timeoutSeconds must be 1 to 600, not \(timeout)", field: "timeoutSeconds") }
            if let ticket = body.ticket, ticket.isEmpty || ticket.count > 32 {
                throw APIError.invalidData("ticket must be 1 to 32 characters", field: "ticket")
            }
            try await ensureReady(keypad.id)
            return accepted(await services.jobs.submitRating(keypad, ticket: body.ticket, timeout: .seconds(timeout)), path: "rating-jobs")
        }
        for (path, kind) in [("scan-jobs", JobKind.scan), ("print-jobs", .print), ("rating-jobs", .rating)] {
            router.get("/v1/\(path)/{job}") { _, context in try await job(context, kind) }
            router.delete("/v1/\(path)/{job}") { _, context in
                try context.require(kind == .rating ? .clerk : .kiosk, to: "canceling a job")
                let id = try await job(context, kind).id
                guard let job = await services.jobs.cancel(id) else { throw APIError.notFound("no \(kind.rawValue) job \(id)") }
                return job
            }
        }
        router.get("/v1/scan-jobs/{job}/pages/{n}") { _, context in
            let job = try await job(context, .scan)
            let raw = context.parameters.get("n") ?? ""
            guard let n = Int(raw), let page = job.pages?.first(where: { $0.n == n }), let settings = job.settings else {
                throw APIError.notFound("scan job \(job.id) has no page '\(raw)' (pages: \(job.pages?.count ?? 0))")
            }
            let data = try services.jobs.spool.read(job: job.id, page: n, format: JobBoard.pageFormat(settings))
            return Response(status: .ok, headers: [.contentType: page.mediaType], body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
        }
        router.get("/v1/scan-jobs/{job}/document") { _, context in
            let job = try await job(context, .scan)
            guard job.settings?.format == "pdf" else { throw APIError.notFound("scan job \(job.id) is not a pdf job: fetch its pages") }
            guard job.state == .completed, let data = try? services.jobs.spool.readDocument(job: job.id) else {
                throw APIError(.conflict, .sequenceError, "scan job \(job.id) is \(job.state.rawValue): the PDF is written when the job completes")
            }
            return Response(status: .ok, headers: [.contentType: "application/pdf"], body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
        }
    }

    private func accepted(_ job: Job, path: String) -> Response {
        jsonResponse(job, status: .accepted, headers: [.location: "/v1/\(path)/\(job.id)"])
    }

    private func job(_ context: HallRequestContext, _ kind: JobKind) async throws -> Job {
        let id = context.parameters.get("job") ?? ""
        guard let job = await services.jobs.lookup(id), job.kind == kind else { throw APIError.notFound("no \(kind.rawValue) job '\(id)'") }
        return job
    }

    private func device<T>(_ context: HallRequestContext, as: T.Type, kind: DeviceKind) async throws -> T {
        let id = try context.parameters.deviceID()
        guard let device = await services.registry.device(id) else { throw APIError.notFound("no device '\(id)'") }
        guard let typed = device as? T else {
            throw APIError(.conflict, .unsupportedCommand, "\(id) is a \(device.kind.rawValue), not a \(kind.rawValue)", device: id)
        }
        return typed
    }

    /// A CUPS queue takes jobs while its printer is off (they wait in the queue and
    /// print when it is back); other states refuse work as for any device.
    private func ensurePrinterReady(_ printer: any Printer) async throws {
        guard let s = await services.registry.snapshot(printer.id) else { throw APIError.notFound("no device '\(printer.id)'") }
        if printer.driver == "cups", s.isOpen, s.status.state == .offline, !s.status.reasons.contains("queue-rejecting-jobs") { return }
        try await ensureReady(printer.id)
    }

    /// Refuses work for a device that cannot take it now, with its state and reasons.
    private func ensureReady(_ id: DeviceID) async throws {
        guard let s = await services.registry.snapshot(id) else { throw APIError.notFound("no device '\(id)'") }
        if !s.isOpen || !s.status.state.acceptsWork { throw APIError(DeviceError.notReady(id, s.status)) }
    }

    private func validate(_ body: ScanJobRequest, for id: DeviceID) async throws -> ScanSettings {
        // A SANE scanner learns that a jam or open cover is cleared only by scanning again.
        if let s = await services.registry.snapshot(id), s.driver == "sane", s.isOpen, s.status.state == .userError {
        } else {
            try await ensureReady(id)
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

    private func printDocument(_ request: Request, context: HallRequestContext, printer: any Printer) async throws -> PrintDocument {
        let contentType = request.headers[.contentType] ?? ""
        let parts = contentType.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
        let mediaType = parts.first ?? ""
        if mediaType == "application/json" { return try await ticketDocument(request, context: context, printer: printer) }
        guard let format = PrintDocument.mediaTypes[mediaType] else {
            throw APIError(
                .unsupportedMediaType, .invalidData,
                "Content-Type '\(contentType)' is not a print format; send \((PrintDocument.mediaTypes.keys + ["application/json (a ticket)"]).sorted().joined(separator: ", "))",
                field: "Content-Type")
        }
        if format == "text", let charset = parts.dropFirst().first(where: { $0.hasPrefix("charset=") }), charset != "charset=utf-8" {
            throw APIError(.unsupportedMediaType, .invalidData, "text must be UTF-8, not \(charset.dropFirst(8))", field: "Content-Type")
        }
        guard printer.formats.contains(format) else {
            throw APIError(.badRequest, .invalidData, "\(printer.id) takes \(printer.formats.joined(separator: ", ")), not \(format)", device: printer.id, field: "Content-Type")
        }
        try await ensurePrinterReady(printer)
        let buffer = try await request.collectBody(upTo: 16 * 1024 * 1024, what: "document")
        guard buffer.readableBytes > 0 else { throw APIError.invalidData("the document is empty") }
        let data = Data(buffer: buffer)
        if format == "text", String(data: data, encoding: .utf8) == nil {
            throw APIError.invalidData("the text is not valid UTF-8")
        }
        if format == "pdf", !data.starts(with: Data("%PDF-".utf8)) {
            throw APIError.invalidData("the document does not start with %PDF-: not a PDF")
        }
        return PrintDocument(format: format, data: data, title: request.headers[.init("X-Document-Title")!] ?? "halld job")
    }

    /// `{"ticket": {…}}`: rendered here in ESC/POS with the printer's layout.
    private func ticketDocument(_ request: Request, context: HallRequestContext, printer: any Printer) async throws -> PrintDocument {
        let body = try await request.decode(as: TicketPrintRequest.self, context: context)
        guard printer.formats.contains("escpos") else {
            throw APIError(.badRequest, .invalidData, "\(printer.id) prints \(printer.formats.joined(separator: ", ")), not ESC/POS tickets", device: printer.id, field: "ticket")
        }
        let t = body.ticket
        guard !t.number.isEmpty, t.number.count <= 16 else { throw APIError.invalidData("ticket.number must be 1 to 16 characters", field: "ticket.number") }
        if let w = t.waitingAhead, w < 0 { throw APIError.invalidData("ticket.waitingAhead must not be negative", field: "ticket.waitingAhead") }
        let document: PrintDocument
        do {
            document = try services.tickets.document(t, for: printer.id)
        } catch {
            throw APIError.invalidData("\(error)", field: error.field)
        }
        try await ensurePrinterReady(printer)
        return document
    }

}
