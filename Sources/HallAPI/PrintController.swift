import DeviceKit
import Foundation
import HallAPIModels
import Hummingbird
import Jobs

/// Print jobs: documents and tickets on a printer, the list, read, cancel, reprint.
struct PrintController {
    let services: APIServices

    func register(_ router: Router<HallRequestContext>) {
        router.post("/v1/printers/{id}/jobs") { request, context in
            try context.require(.kiosk, to: "printing")
            let printer: any Printer = try await services.device(context, as: (any Printer).self, kind: .printer)
            let document = try await printDocument(request, context: context, printer: printer)
            return services.accepted(try await services.jobs.submitPrint(printer, document: document), path: "print-jobs")
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
            let original = try await services.job(context, .print)
            guard let document = try await services.jobs.printedDocument(original.id) else {
                throw APIError.notFound("print job \(original.id) has no recorded document to print again")
            }
            guard let printer = await services.registry.device(original.device) as? any Printer else {
                throw APIError.notFound("printer '\(original.device)' of job \(original.id) is no longer configured")
            }
            try await services.ensurePrinterReady(printer)
            return services.accepted(try await services.jobs.submitPrint(printer, document: document, reprintOf: original.id), path: "print-jobs")
        }
        router.get("/v1/print-jobs/{job}") { _, context in try await services.job(context, .print) }
        router.delete("/v1/print-jobs/{job}") { _, context in
            try context.require(.kiosk, to: "canceling a job")
            let id = try await services.job(context, .print).id
            guard let job = await services.jobs.cancel(id) else { throw APIError.notFound("no print job \(id)") }
            return job
        }
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
        try await services.ensurePrinterReady(printer)
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
        try await services.ensurePrinterReady(printer)
        return document
    }

}
