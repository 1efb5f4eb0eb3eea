import ArgumentParser
import Foundation
import HallAPIModels
import HallClient

/// Waits for a job to finish by following its events, reading the job again at the end.
func follow(_ client: HallClient, job: Job, since: Int64, path: String, progress: (Job) async throws -> Void = { _ in }) async throws -> Job {
    var current = job
    let events = client.events("/v1/events?since=\(since)&types=\(JobKindEvents.types(job.kind))")
    for try await message in events {
        guard let data = message.data.data(using: .utf8), let event = try? JSONDecoder().decode(HallEvent.self, from: data),
            event.data["id"]?.stringValue == job.id || event.data["job"]?.stringValue == job.id
        else { continue }
        current = try await client.call("GET", "/v1/\(path)/\(job.id)")
        try await progress(current)
        if current.state.isFinal { break }
    }
    return current
}

enum JobKindEvents {
    static func types(_ kind: JobKind) -> String {
        switch kind {
        case .scan: "scan"
        case .print: EventType.printJob
        case .rating: EventType.ratingJob
        }
    }
}

func finish(_ job: Job) throws {
    if job.state != .completed {
        let reason = job.error.map { "\($0.code.rawValue): \($0.message)" + (($0.reasons ?? []).isEmpty ? "" : " [\($0.reasons!.joined(separator: ", "))]") } ?? job.state.rawValue
        FileHandle.standardError.write(Data("hallctl: job \(job.id) \(job.state.rawValue): \(reason)\n".utf8))
        throw ExitCode(job.error?.code == .timeOut ? 4 : 1)
    }
}

struct Rate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Ask the citizen to rate on a keypad and wait for the answer (好差评).")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "Keypad id.") var keypad: String
    @Option(help: "The ticket being rated, e.g. A012.") var ticket: String?
    @Option(help: "Seconds to wait for a key.") var timeout = 30

    func run() async throws {
        try await reportingErrors {
            let client = global.client
            let start: InfoResponse = try await client.call("GET", "/v1/info")
            let job: Job = try await client.call("POST", "/v1/keypads/\(keypad)/ratings", json: RatingJobRequest(ticket: ticket, timeoutSeconds: timeout))
            if !global.json { Output.line("waiting for a key on \(keypad)…") }
            let done = try await follow(client, job: job, since: start.lastEventSeq, path: "rating-jobs")
            try global.show(done) { j in j.rating.map { "\(keypad): \($0.label) (\($0.level.rawValue), \($0.stars) stars)" } ?? "\(keypad): \(j.state.rawValue)" }
            try finish(done)
        }
    }
}

struct Press: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Press a key on a simulated keypad (technician): a level, its label, or 1-5 stars.")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "Keypad id.") var keypad: String
    @Argument(help: "verySatisfied … veryDissatisfied, 非常满意 … 非常不满意, or 5 … 1.") var level: String

    func run() async throws {
        try await reportingErrors {
            let r: PressResponse = try await global.client.call("POST", "/v1/keypads/\(keypad)/press", json: PressRequest(level: level))
            try global.show(r) { "\(keypad): pressed \($0.level.label)\($0.rated ? ", rated" : " (no rating request waiting)")" }
        }
    }
}

struct Print: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print a file: PDF, UTF-8 text, or raw ESC/POS (by extension or --type).")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "Printer id.") var printer: String
    @Argument(help: "File to print.") var file: String
    @Option(help: "pdf, text or escpos (default: from the file's extension).") var type: String?

    func run() async throws {
        try await reportingErrors {
            let data: Data
            do { data = try Data(contentsOf: URL(fileURLWithPath: file)) } catch { throw HallClientError("cannot read \(file): \(error.localizedDescription)") }
            let ext = (file as NSString).pathExtension.lowercased()
            let format = type ?? (ext == "pdf" ? "pdf" : ext == "bin" || ext == "escpos" ? "escpos" : "text")
            guard let mediaType = PrintDocument.mediaTypes.first(where: { $0.value == format })?.key else {
                throw ValidationError("--type must be pdf, text or escpos")
            }
            let client = global.client
            let start: InfoResponse = try await client.call("GET", "/v1/info")
            let reply = try await client.send(
                "POST", "/v1/printers/\(printer)/jobs", body: data, contentType: mediaType + (format == "text" ? "; charset=utf-8" : ""),
                headers: ["X-Document-Title": (file as NSString).lastPathComponent.filter { $0.isASCII && !$0.isNewline }])
            let job: Job = try HallClient.decode(reply)
            try await followPrint(global, job: job, since: start.lastEventSeq)
        }
    }
}

/// Follows a print job to its end, saying why it waits when CUPS says so.
func followPrint(_ global: GlobalOptions, job: Job, since: Int64) async throws {
    var said: String?
    let done = job.state.isFinal ? job : try await follow(global.client, job: job, since: since, path: "print-jobs") { j in
        if !global.json, let message = j.print?.message, message != said {
            said = message
            FileHandle.standardError.write(Data("\(j.device): waiting: \(message)\n".utf8))
        }
    }
    try global.show(done) { j in
        "\(j.device): job \(j.id) \(j.state.rawValue)" + (j.print.map { ", \($0.bytes) bytes, \($0.pages) pages" + ($0.deviceJob.map { ", printer job \($0)" } ?? "") } ?? "")
    }
    try finish(done)
}

struct TicketPrint: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "print-ticket", abstract: "Print a queue ticket, rendered by halld with the printer's template (ESC/POS printers).")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "Printer id.") var printer: String
    @Argument(help: "Ticket number, e.g. A012.") var number: String
    @Option(help: "Service name.") var service: String?
    @Option(help: "People waiting ahead.") var waiting: Int?
    @Option(help: "Notice line, e.g. 请到3号窗口办理.") var notice: String?

    func run() async throws {
        try await reportingErrors {
            let client = global.client
            let start: InfoResponse = try await client.call("GET", "/v1/info")
            let ticket = TicketContent(number: number, service: service, waitingAhead: waiting, notice: notice)
            let job: Job = try await client.call("POST", "/v1/printers/\(printer)/jobs", json: TicketPrintRequest(ticket: ticket))
            try await followPrint(global, job: job, since: start.lastEventSeq)
        }
    }
}

struct PrintJobs: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "print-jobs", abstract: "List recorded print jobs, newest first (--failed: those to reprint).")
    @OptionGroup var global: GlobalOptions
    @Flag(help: "Only failed jobs.") var failed = false
    @Option(help: "How many (1-1000).") var limit = 20

    func run() async throws {
        try await reportingErrors {
            let jobs: [Job] = try await global.client.call("GET", "/v1/print-jobs?limit=\(limit)" + (failed ? "&state=failed" : ""))
            try global.show(jobs) { list in
                list.map { j in
                    "\(j.id)  \(j.createdAt)  \(j.device)  \(j.state.rawValue)  \(j.title ?? "")" + (j.error.map { "  \($0.message)" } ?? "")
                }.joined(separator: "\n")
            }
        }
    }
}

struct Reprint: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print a recorded print job again on its printer.")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "Print job id (hallctl print-jobs --failed lists them).") var job: String

    func run() async throws {
        try await reportingErrors {
            let client = global.client
            let start: InfoResponse = try await client.call("GET", "/v1/info")
            let again: Job = try await client.call("POST", "/v1/print-jobs/\(job)/reprint")
            try await followPrint(global, job: again, since: start.lastEventSeq)
        }
    }
}

struct Scan: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Scan into a folder, showing progress page by page; --format pdf also writes the job as one PDF.")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "Scanner id.") var scanner: String
    @Option(help: "Folder for the pages (created if missing).") var out: String
    @Option(help: "flatbed, adf or adfDuplex.") var source: ScanSource?
    @Option(help: "color, gray or lineart.") var mode: ScanMode?
    @Option(help: "Dots per inch.") var resolution: Int?
    @Option(help: "jpeg, png, pnm or pdf (see hallctl device).") var format: String?
    @Option(help: "Stop after this many pages.") var maxPages: Int?

    func run() async throws {
        try await reportingErrors {
            let client = global.client
            try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
            let start: InfoResponse = try await client.call("GET", "/v1/info")
            let request = ScanJobRequest(source: source, mode: mode, resolution: resolution, format: format, maxPages: maxPages)
            let job: Job = try await client.call("POST", "/v1/scanners/\(scanner)/jobs", json: request)
            var saved = Set<Int>()
            func save(_ j: Job) async throws {
                for page in j.pages ?? [] where !saved.contains(page.n) {
                    let reply = try await client.send("GET", "/v1/scan-jobs/\(j.id)/pages/\(page.n)")
                    guard reply.status == 200 else { _ = try HallClient.decode(reply, as: JSONValue.self); continue }
                    let ext = j.settings.map { $0.format == "pdf" ? "jpeg" : $0.format } ?? "img"
                    let path = (out as NSString).appendingPathComponent("page-\(page.n).\(ext)")
                    try reply.body.write(to: URL(fileURLWithPath: path))
                    saved.insert(page.n)
                    if !global.json { Output.line("page \(page.n): \(page.width)x\(page.height), \(page.bytes) bytes -> \(path)") }
                }
            }
            let done = try await follow(client, job: job, since: start.lastEventSeq, path: "scan-jobs", progress: save)
            if done.state == .completed, done.settings?.format == "pdf" {
                let reply = try await client.send("GET", "/v1/scan-jobs/\(done.id)/document")
                guard reply.status == 200 else { _ = try HallClient.decode(reply, as: JSONValue.self); return }
                let path = (out as NSString).appendingPathComponent("scan-\(done.id.prefix(8)).pdf")
                try reply.body.write(to: URL(fileURLWithPath: path))
                if !global.json { Output.line("document: \(done.pages?.count ?? 0) pages -> \(path)") }
            }
            try global.show(done) { j in "\(scanner): job \(j.id) \(j.state.rawValue), \(j.pages?.count ?? 0) pages in \(out)" }
            try finish(done)
        }
    }
}

struct Events: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Follow halld's events; resumes where it left off when the stream drops.")
    @OptionGroup var global: GlobalOptions
    @Option(help: "Start after this sequence number (0: everything kept).") var since: Int64?
    @Option(help: "Comma-separated types or families, e.g. keypad,device.status.") var types: String?
    @Option(help: "Stop after this many events.") var count: Int?

    func run() async throws {
        try await reportingErrors {
            var last = since
            var seen = 0
            var connected = false
            while true {
                var query: [String] = []
                if let last { query.append("since=\(last)") }
                if let types { query.append("types=\(types)") }
                let path = "/v1/events" + (query.isEmpty ? "" : "?" + query.joined(separator: "&"))
                do {
                for try await message in global.client.events(path) {
                    connected = true
                    if message.event == EventType.lagged {
                        if let data = message.data.data(using: .utf8), let lag = try? JSONDecoder().decode(LaggedEvent.self, from: data) {
                            FileHandle.standardError.write(Data("hallctl: fell behind, resuming from \(lag.resumeFrom)\n".utf8))
                            last = lag.resumeFrom
                        }
                        continue
                    }
                    if let id = message.id.flatMap(Int64.init) { last = id }
                    if global.json {
                        Output.line(message.data)
                    } else if let data = message.data.data(using: .utf8), let e = try? JSONDecoder().decode(HallEvent.self, from: data) {
                        let encoder = JSONEncoder()
                        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
                        let payload = (try? encoder.encode(e.data)).map { String(decoding: $0, as: UTF8.self) } ?? ""
                        Output.line("\(e.seq)  \(e.time)  \(e.type)  \(e.device?.rawValue ?? "-")  \(payload)")
                    }
                    seen += 1
                    if let count, seen >= count { return }
                }
                } catch let e as HallClientError where connected && e.status == nil {
                    // halld went away after we were following it (a restart): keep trying.
                    FileHandle.standardError.write(Data("hallctl: \(e.message); retrying\n".utf8))
                }
                // The stream ended (lagged, or halld restarting): resume from the last id.
                try await Task.sleep(for: .seconds(1))
                if last == nil { last = 0 }
            }
        }
    }
}
