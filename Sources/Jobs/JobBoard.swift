import DeviceKit
import Foundation
import SQLiteStore
import HallAPIModels
import Imaging
import Logging
import Synchronization

/// Runs scan, print and rating jobs, keeps their records, and publishes their
/// progress as events. Jobs run as children of `run()`, so shutting the daemon
/// down cancels them; `DELETE` cancels one.
public actor JobBoard {
    struct Work: Sendable {
        let id: String
        let cancel: OneShot<Void>
        let body: @Sendable () async -> Void
    }

    private var jobs: [String: Job] = [:]
    private var order: [String] = []
    private var cancels: [String: OneShot<Void>] = [:]
    private let queue: AsyncStream<Work>
    private let feed: AsyncStream<Work>.Continuation
    let events: any EventPublisher
    let registry: DeviceRegistry
    public nonisolated let spool: ScanSpool
    /// Writes scanned pages to the spool: tens of MB a page, never on the cooperative pool.
    nonisolated let spoolWriter = BlockingWorker(name: "scan spool")
    let logger: Logger
    /// Finished jobs kept for reading; older ones (and their pages) are dropped.
    let retained: Int
    /// Where print jobs are recorded with their documents (nil: in memory only).
    let database: HallDatabase?

    /// How long the pages of a finished scan job stay in the spool.
    let spoolRetention: Duration

    public init(
        registry: DeviceRegistry, events: any EventPublisher, spool: ScanSpool, logger: Logger, retained: Int = 500, database: HallDatabase? = nil,
        spoolRetention: Duration = .seconds(24 * 3600)
    ) {
        self.spoolRetention = spoolRetention
        self.registry = registry
        self.events = events
        self.spool = spool
        self.logger = logger
        self.retained = retained
        self.database = database
        (queue, feed) = AsyncStream.makeStream(of: Work.self)
    }

    /// Runs submitted jobs until cancelled; cancelling ends every running job.
    public func run() async {
        spool.removeAll()
        await withDiscardingTaskGroup { group in
            group.addTask { [self] in
                // Pages of finished scan jobs leave the spool after the retention.
                while !Task.isCancelled {
                    do { try await Task.sleep(for: .seconds(60)) } catch { return }
                    await expireScans(now: Date())
                }
            }
            for await work in queue {
                group.addTask {
                    // DELETE fails the job's OneShot: that child throws, which cancels the body.
                    try? await withThrowingDiscardingTaskGroup { race in
                        race.addTask { try await work.cancel.wait() }
                        race.addTask {
                            await work.body()
                            work.cancel.fulfill(())
                        }
                    }
                }
            }
        }
    }

    public func job(_ id: String) -> Job? { jobs[id] }

    /// A job in memory, or a print job from the database (after a restart, or evicted).
    public func lookup(_ id: String) async -> Job? {
        if let job = jobs[id] { return job }
        guard let record = try? await database?.printJob(id) else { return nil }
        return try? JSONDecoder().decode(Job.self, from: Data(record.job.utf8))
    }

    /// Recorded print jobs, newest first, optionally in one state (`failed` for follow-up).
    public func printJobs(state: JobState?, limit: Int) async throws -> [Job] {
        guard let database else { return order.reversed().compactMap { jobs[$0] }.filter { $0.kind == .print && (state == nil || $0.state == state) } }
        return try await database.printJobs(state: state?.rawValue, limit: limit).compactMap { try? JSONDecoder().decode(Job.self, from: Data($0.job.utf8)) }
    }

    /// The document a recorded print job sent, to print it again.
    public func printedDocument(_ id: String) async throws -> PrintDocument? {
        guard let record = try await database?.printJob(id), let data = record.document else { return nil }
        return PrintDocument(format: record.format, data: data, title: record.title)
    }

    /// Cancels a job that has not finished; returns the job as it is.
    public func cancel(_ id: String) -> Job? {
        guard let job = jobs[id] else { return nil }
        if !job.state.isFinal { cancels[id]?.fail(CancellationError()) }
        return job
    }

    // MARK: submitting

    func submit(_ job: Job, body: @escaping @Sendable (String) async throws -> Void) -> Job {
        jobs[job.id] = job
        order.append(job.id)
        let cancel = OneShot<Void>()
        cancels[job.id] = cancel
        let (id, device, registry) = (job.id, job.device, registry)
        feed.yield(
            Work(id: id, cancel: cancel) { [self] in
                await self.update(id) { $0.state = .processing }
                do {
                    try await body(id)
                    // What the device counted and announced for this job (a rating, pages)
                    // is applied before anyone can see the job completed. Not on failure:
                    // a device lost mid-job may be reopening, and the failure waits for no one.
                    await registry.settle(device)
                    await self.update(id) { $0.state = .completed }
                } catch {
                    await self.fail(id, error)
                }
            })
        evict()
        return job
    }

    /// The format pages of a job are spooled in: `pdf` jobs keep JPEG pages and add a PDF of them.
    public static func pageFormat(_ settings: ScanSettings) -> String { settings.format == "pdf" ? "jpeg" : settings.format }

    public func submitScan(_ scanner: any DocumentScanner, settings: ScanSettings) async -> Job {
        var job = Job(id: Self.newID(), kind: .scan, device: scanner.id, state: .pending, createdAt: Timestamp.string())
        job.settings = settings
        job.pages = []
        var scannerSettings = settings
        scannerSettings.format = Self.pageFormat(settings)
        let pageFormat = scannerSettings.format
        return submit(job) { [self, scannerSettings] id in
            let document = PDFCollector()
            _ = try await scanner.scan(scannerSettings) { page in
                let spool = self.spool
                try await self.spoolWriter.run { try spool.write(page.data, job: id, page: page.number, format: pageFormat) }
                if settings.format == "pdf" {
                    document.add(page.data, width: page.width, height: page.height, gray: settings.mode != .color, dpi: settings.resolution)
                }
                let info = ScanPageInfo(n: page.number, width: page.width, height: page.height, bytes: page.data.count, mediaType: page.mediaType)
                await self.addPage(id, info)
            }
            if settings.format == "pdf" {
                let (spool, data) = (self.spool, document.data)
                try await self.spoolWriter.run { try spool.writeDocument(data, job: id) }
            }
        }
    }

    /// Records the job with its document (durably, before it is acknowledged) and runs it.
    public func submitPrint(_ printer: any Printer, document: PrintDocument, reprintOf: String? = nil) async throws -> Job {
        var job = Job(id: Self.newID(), kind: .print, device: printer.id, state: .pending, createdAt: Timestamp.string())
        job.format = document.format
        job.title = document.title
        job.reprintOf = reprintOf
        try await record(job, document: document)
        return submit(job) { [self] id in
            let outcome = try await printer.print(document) { progress in
                await self.update(id) { $0.print = progress }
            }
            await self.update(id, publish: false) { $0.print = outcome }
        }
    }

    private func record(_ job: Job, document: PrintDocument? = nil) async throws {
        guard let database, job.kind == .print else { return }
        let json = String(decoding: try JSONEncoder().encode(job), as: UTF8.self)
        try await database.savePrintJob(
            PrintJobRecord(
                id: job.id, device: job.device.rawValue, format: job.format ?? "", title: job.title ?? "", state: job.state.rawValue, createdAt: job.createdAt,
                updatedAt: job.updatedAt, job: json, document: document?.data))
    }

    public func submitRating(_ keypad: any EvaluationKeypad, ticket: String?, timeout: Duration) async -> Job {
        var job = Job(id: Self.newID(), kind: .rating, device: keypad.id, state: .pending, createdAt: Timestamp.string())
        job.ticket = ticket
        return submit(job) { [self] id in
            let level = try await keypad.requestRating(ticket: ticket, timeout: timeout)
            await self.update(id, publish: false) { $0.rating = RatingResult(level) }
        }
    }

    static func newID() -> String { UUID().uuidString.lowercased() }

    // MARK: progress

    private func addPage(_ id: String, _ page: ScanPageInfo) async {
        guard var job = jobs[id] else { return }
        job.pages?.append(page)
        job.updatedAt = Timestamp.string()
        jobs[id] = job
        await publish(EventType.scanPage, job, extra: ["job": .string(id), "page": (try? JSONValue(encoding: page)) ?? .null])
    }

    private func update(_ id: String, publish: Bool = true, _ change: (inout Job) -> Void) async {
        guard var job = jobs[id], !job.state.isFinal else { return }
        change(&job)
        job.updatedAt = Timestamp.string()
        jobs[id] = job
        if job.state.isFinal { cancels[id] = nil }
        if job.kind == .print {
            do { try await record(job) } catch { logger.error("print job \(id) not recorded: \(error)") }
        }
        if publish { await self.publish(Self.eventType(job), job) }
    }

    private func fail(_ id: String, _ error: any Error) async {
        let deviceError: DeviceError =
            switch error {
            case let e as DeviceError: e
            case is CancellationError: DeviceError(.canceled, "canceled")
            default: DeviceError(.hardwareError, "\(error)")
            }
        guard let device = jobs[id]?.device else { return }
        if deviceError.code != .canceled { await registry.recordError(device, deviceError) }
        logger.warning("job \(id) on \(device) ended: \(deviceError)", metadata: ["device.id": "\(device)"])
        await update(id) { job in
            job.state = deviceError.code == .canceled ? .canceled : .failed
            job.error = ErrorResponse.Body(code: deviceError.code, message: deviceError.message, device: device, reasons: deviceError.reasons.isEmpty ? nil : deviceError.reasons)
        }
    }

    static func eventType(_ job: Job) -> String {
        switch job.kind {
        case .scan: job.state.isFinal ? EventType.scanFinished : "scan.job"
        case .print: EventType.printJob
        case .rating: EventType.ratingJob
        }
    }

    private func publish(_ type: String, _ job: Job, extra: [String: JSONValue]? = nil) async {
        do {
            let data: JSONValue
            if let extra { data = .object(extra) } else { data = try JSONValue(encoding: job) }
            try await events.publish(NewEvent(type: type, device: job.device, data: data))
        } catch {
            logger.error("event \(type) for job \(job.id) not stored: \(error)")
        }
    }

    /// Removes finished scan jobs (and their pages) older than the retention; returns their ids.
    @discardableResult
    public func expireScans(now: Date) -> [String] {
        let cutoff = now.addingTimeInterval(-Double(spoolRetention.components.seconds))
        let parser = ISO8601DateFormatter()
        parser.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        let expired = order.filter { id in
            guard let job = jobs[id], job.kind == .scan, job.state.isFinal, let at = parser.date(from: job.updatedAt) else { return false }
            return at < cutoff
        }
        for id in expired {
            order.removeAll { $0 == id }
            jobs[id] = nil
            spool.remove(job: id)
        }
        if !expired.isEmpty { logger.info("removed \(expired.count) scan jobs older than \(spoolRetention) from the spool") }
        return expired
    }

    private func evict() {
        while order.count > retained, let oldest = order.first(where: { jobs[$0]?.state.isFinal ?? true }) {
            order.removeAll { $0 == oldest }
            if jobs.removeValue(forKey: oldest)?.kind == .scan { spool.remove(job: oldest) }
        }
    }
}

/// The PDF of a `pdf` scan job, its JPEG pages added as they arrive.
final class PDFCollector: Sendable {
    private let document = Mutex(PDFDocument())

    func add(_ jpeg: Data, width: Int, height: Int, gray: Bool, dpi: Int) {
        document.withLock { $0.addJPEG(jpeg, width: width, height: height, gray: gray, dpi: dpi) }
    }

    var data: Data { document.withLock { $0.data } }
}
