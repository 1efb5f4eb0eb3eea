import DeviceKit
import Foundation
import Transports
import WireProtocols

/// A printer behind a CUPS queue: ESC/POS ticket printers on raw queues (format
/// `escpos`) and A4 printers that take PDF (format `pdf`). Jobs go in through
/// libcups (Create-Job, Send-Document) and are followed until CUPS says completed,
/// canceled or aborted; the queue's state is read every `pollInterval` and mapped
/// onto the status model, so `hallctl devices` says why a printer is not printing.
public actor CupsPrinter: Printer {
    public nonisolated let id: DeviceID
    public nonisolated let kind = DeviceKind.printer
    public nonisolated let driver = "cups"
    public nonisolated let name: String
    public nonisolated let queue: String
    /// `escpos` (raw queue, tickets) or `pdf` (A4).
    public nonisolated let format: String
    let client: CupsClient
    let paper: ESCPOS.Paper
    let encoding: TextEncoding
    let pollInterval: Duration
    let jobPollInterval: Duration
    let clock: any Clock<Duration>
    private var context: DeviceContext?
    private var isOpen = false
    private var lastStatus: DeviceStatus?
    private var lastMessage = ""
    /// The IPP subscription the queue's changes come through, when cupsd took it.
    private var subscription: Int?
    private var sequence = 0

    public init(
        id: DeviceID, name: String, queue: String, format: String, client: CupsClient, paper: ESCPOS.Paper = .mm58, encoding: TextEncoding = .gb18030,
        pollInterval: Duration = .seconds(2), jobPollInterval: Duration = .milliseconds(100), clock: any Clock<Duration> = ContinuousClock()
    ) {
        self.id = id
        self.name = name
        self.queue = queue
        self.format = format
        self.client = client
        self.paper = paper
        self.encoding = encoding
        self.pollInterval = pollInterval
        self.jobPollInterval = jobPollInterval
        self.clock = clock
    }

    /// escpos printers take tickets and plain text (converted to ESC/POS); pdf printers take PDF and text.
    public nonisolated var formats: [String] { format == "escpos" ? ["escpos", "text"] : ["pdf", "text"] }

    public func open(context: DeviceContext) async throws -> DeviceOpenInfo {
        let attributes = try await read()
        self.context = context
        isOpen = true
        let status = Self.status(attributes)
        lastStatus = status
        lastMessage = attributes.message
        var c = DeviceCapabilities()
        c.formats = formats
        let server = await client.serverName()
        let identity = DeviceIdentity(
            model: attributes.makeAndModel.isEmpty ? "CUPS queue \(queue)" : attributes.makeAndModel,
            connection: "cups \(server) queue \(queue)\(attributes.deviceURI.isEmpty ? "" : " -> \(attributes.deviceURI)")")
        return DeviceOpenInfo(identity: identity, capabilities: c, status: status)
    }

    public func close() async {
        isOpen = false
        if let s = subscription { await client.cancelSubscription(s) }
        subscription = nil
    }

    /// Follows the queue's state until closed: through an IPP subscription
    /// (notify-pull-method ippget) whose events are pulled every `pollInterval` and
    /// trigger a read of the queue, or, where cupsd refuses one, by reading the
    /// queue every `pollInterval`. A queue that disappears is reported lost (the
    /// registry reopens it with backoff).
    public func run(context: DeviceContext) async {
        await subscribe()
        while isOpen && !Task.isCancelled {
            do { try await clock.sleep(for: pollInterval) } catch { return }
            guard let s = subscription else {
                await refresh()
                continue
            }
            do {
                let n = try await client.notifications(subscription: s, after: sequence)
                sequence = n.lastSequence
                if !n.events.isEmpty {
                    context.logger.debug("queue \(queue): \(n.events.joined(separator: ", "))")
                    await refresh()
                }
            } catch {
                // Lease over, or cupsd restarted: subscribe again and read what was missed.
                context.logger.info("subscription \(s) on \(queue) ended (\(error)); subscribing again")
                subscription = nil
                await subscribe()
                await refresh()
            }
        }
    }

    private func subscribe() async {
        do {
            subscription = try await client.subscribe(queue: queue, leaseSeconds: 600)
            sequence = 0
            context?.logger.info("following queue \(queue) by IPP subscription \(subscription!) (ippget)")
        } catch {
            context?.logger.notice("cupsd refused a subscription on \(queue) (\(error)): reading the queue every \(pollInterval)")
        }
    }

    /// Reads the queue once and reports what changed.
    func refresh() async {
        do {
            let attributes = try await read()
            let status = Self.status(attributes)
            if status != lastStatus || attributes.message != lastMessage {
                if !attributes.message.isEmpty { context?.logger.notice("queue \(queue): \(attributes.message)") }
                lastStatus = status
                lastMessage = attributes.message
                context?.report(.status(status))
            }
        } catch let e as DeviceError where e.state == .noDevice {
            isOpen = false
            context?.report(.lost(DeviceStatus(.noDevice, reasons: e.reasons)))
        } catch let e as DeviceError {
            let status = DeviceStatus(e.state ?? .offline, reasons: e.reasons)
            if status != lastStatus {
                context?.logger.warning("\(e.message)")
                lastStatus = status
                context?.report(.status(status))
            }
        } catch {}
    }

    private func read() async throws -> CupsPrinterAttributes {
        do {
            return try await client.printerAttributes(queue: queue)
        } catch var e as DeviceError {
            e.device = id
            if e.state == .noDevice, let queues = try? await client.destinations() {
                e.message += queues.isEmpty ? "; the server has no queues" : "; queues there: \(queues.joined(separator: ", "))"
            }
            throw e
        }
    }

    /// The status model for a queue's state: stopped by something a person fixes
    /// (paper, jam, door) is `userError`; an unreachable printer `offline` (the
    /// socket backend says so only in its message while it retries); a queue
    /// that rejects jobs `offline`; stopped otherwise `hardwareError`; printing `busy`.
    public static func status(_ a: CupsPrinterAttributes) -> DeviceStatus {
        var reasons = a.reasons.map(Self.reason)
        if !a.acceptingJobs { reasons.append("queue-rejecting-jobs") }
        let userFixable = ["media-empty", "media-needed", "media-jam", "door-open", "cover-open", "input-tray-missing", "output-area-full", "marker-supply-empty"]
        func has(_ prefixes: [String]) -> Bool { reasons.contains { r in prefixes.contains { r.hasPrefix($0) } && !r.hasSuffix("-report") } }
        let state: DeviceState
        if has(userFixable) {
            state = .userError
        } else if !a.acceptingJobs || reasons.contains(where: { $0.hasPrefix("offline") || $0.hasPrefix("shutdown") || $0.hasPrefix("connecting-to-device") })
            || (a.state == 4 && (a.message.lowercased().contains("unable to connect") || a.message.lowercased().contains("may not exist or is unavailable")))
        {
            state = .offline
            if !reasons.contains(where: { $0.hasPrefix("offline") }) { reasons.append("offline-report") }
        } else if a.state == 5 {
            state = .hardwareError
            if reasons.isEmpty { reasons.append("stopped-error") }
        } else if a.state == 4 {
            state = .busy
        } else {
            state = .online
        }
        return DeviceStatus(state, reasons: reasons)
    }

    /// CUPS reasons keep their severity suffix; bare keywords are errors, as IPP says.
    static func reason(_ r: String) -> String {
        if ["paused", "moving-to-paused", "connecting-to-device", "cups-waiting-for-job-completed"].contains(r) { return r }
        return r.hasSuffix("-error") || r.hasSuffix("-warning") || r.hasSuffix("-report") ? r : r + "-error"
    }

    // MARK: printing

    public func print(_ document: PrintDocument) async throws -> PrintOutcome {
        try await print(document) { _ in }
    }

    public func print(_ document: PrintDocument, progress: @escaping @Sendable (PrintOutcome) async -> Void) async throws -> PrintOutcome {
        guard isOpen else { throw DeviceError(.deviceNotReady, "\(id) is not open", device: id, state: lastStatus?.state ?? .offline) }
        let (data, mime) = try prepare(document)
        let job: Int
        do {
            job = try await client.submit(queue: queue, title: document.title, format: mime, data: data)
        } catch var e as DeviceError {
            e.device = id
            throw e
        }
        context?.logger.info("job \(job) on \(queue): \(data.count) bytes as \(mime)", metadata: ["cups.job": "\(job)"])
        // Accepted by CUPS: the job shows its CUPS id at once.
        await progress(PrintOutcome(bytes: data.count, pages: 0, deviceJob: "\(job)", deviceState: "accepted"))
        var seen: CupsJobStatus?
        do {
            while true {
                let status = try await client.job(job)
                if status.isFinal {
                    switch status.state {
                    case 9:
                        context?.report(.count(.printJobs, 1))
                        context?.report(.count(.pagesPrinted, Int64(max(status.pagesCompleted, 1))))
                        return PrintOutcome(bytes: data.count, pages: max(status.pagesCompleted, 1), deviceJob: "\(job)", deviceState: status.name)
                    case 7:
                        throw DeviceError(.canceled, "CUPS job \(job) was canceled\(status.message.isEmpty ? "" : ": \(status.message)")", device: id)
                    default:
                        throw DeviceError(
                            .hardwareError, "CUPS aborted job \(job)\(status.message.isEmpty ? "" : ": \(status.message)")", device: id,
                            reasons: status.reasons)
                    }
                }
                if status != seen {
                    seen = status
                    await progress(
                        PrintOutcome(
                            bytes: data.count, pages: status.pagesCompleted, deviceJob: "\(job)", deviceState: status.name,
                            reasons: status.reasons.isEmpty ? nil : status.reasons, message: status.message.isEmpty ? nil : status.message))
                    // The queue's state (printer off, paper out) shows on the device at once.
                    await refresh()
                }
                try await clock.sleep(for: jobPollInterval)
            }
        } catch is CancellationError {
            try? await client.cancel(queue: queue, job: job)
            context?.logger.notice("job \(job) on \(queue) canceled")
            throw CancellationError()
        }
    }

    /// The bytes and MIME type CUPS gets: ESC/POS goes raw; text for a ticket
    /// printer becomes ESC/POS in the printer's encoding; PDF and text go to A4 queues as they are.
    func prepare(_ document: PrintDocument) throws -> (Data, String) {
        guard formats.contains(document.format) else {
            throw DeviceError(.invalidData, "\(id) (\(format) queue \(queue)) takes \(formats.joined(separator: ", ")), not \(document.format)", device: id)
        }
        switch (format, document.format) {
        case ("escpos", "escpos"):
            return (document.data, "application/vnd.cups-raw")
        case ("escpos", "text"):
            guard let text = String(data: document.data, encoding: .utf8) else { throw DeviceError(.invalidData, "the text is not UTF-8", device: id) }
            do {
                return (Data(try Self.textTicket(text, paper: paper, encoding: encoding)), "application/vnd.cups-raw")
            } catch {
                throw DeviceError(.invalidData, "\(error)", device: id)
            }
        case (_, "pdf"):
            return (document.data, "application/pdf")
        default:
            return (document.data, "text/plain")
        }
    }

    /// Plain text as an ESC/POS job: wrapped to the paper, Chinese in `encoding`, cut at the end.
    static func textTicket(_ text: String, paper: ESCPOS.Paper, encoding: TextEncoding) throws -> [UInt8] {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map { "left: " + $0.replacingOccurrences(of: "{", with: "(").replacingOccurrences(of: "}", with: ")") }
        let template = try TicketTemplate(parsing: lines + ["feed 2", "cut"])
        return try template.render(TicketFields([:]), paper: paper, encoding: encoding)
    }

    // MARK: health

    public func healthCheck(_ level: HealthLevel) async throws -> HealthReport {
        var checks: [HealthCheckItem] = []
        do {
            let a = try await read()
            let status = Self.status(a)
            checks.append(HealthCheckItem("queue", passed: true, "CUPS queue \(queue) present (\(a.deviceURI.isEmpty ? "no device URI" : a.deviceURI))"))
            checks.append(HealthCheckItem("accepting", passed: a.acceptingJobs, a.acceptingJobs ? "accepting jobs" : "the queue rejects jobs: cupsaccept \(queue)"))
            let stateText = "\(status)\(a.message.isEmpty ? "" : ": \(a.message)")\(a.queuedJobs > 0 ? "; \(a.queuedJobs) jobs queued" : "")"
            checks.append(HealthCheckItem("state", passed: status.state.acceptsWork, stateText))
            checks.append(
                HealthCheckItem(
                    "events", passed: true,
                    subscription.map { "IPP subscription \($0) (ippget), pulled every \(pollInterval)" } ?? "reading the queue every \(pollInterval)"))
            for m in a.markers where m.level >= 0 {
                checks.append(HealthCheckItem("marker \(m.name)", passed: m.level > 5, "\(m.type) at \(m.level)%"))
            }
        } catch {
            checks.append(HealthCheckItem("queue", passed: false, "\(error)"))
        }
        if level != .internal, checks.allSatisfy(\.passed) {
            let test: PrintDocument
            if format == "escpos" {
                let bytes = try TicketTemplate(parsing: ["center,bold: halld 打印测试", "center: \(name)", "center: {time}", "rule", "feed 2", "cut"])
                    .render(TicketFields(["time": Timestamp.string()]), paper: paper, encoding: encoding)
                test = PrintDocument(format: "escpos", data: Data(bytes), title: "halld test ticket")
            } else {
                test = PrintDocument(format: "pdf", data: TestPage.pdf(title: "halld test page", line: "\(name) \(Timestamp.string())"), title: "halld test page")
            }
            do {
                let outcome = try await print(test)
                checks.append(HealthCheckItem("test print", passed: true, "CUPS job \(outcome.deviceJob ?? "?") completed, \(outcome.bytes) bytes"))
            } catch {
                checks.append(HealthCheckItem("test print", passed: false, "\(error)"))
            }
        }
        return HealthReport(device: id, level: level, checks: checks)
    }
}
