import CCups
import DeviceKit
import Foundation

/// What CUPS says about a queue (IPP Get-Printer-Attributes).
public struct CupsPrinterAttributes: Sendable, Equatable {
    /// 3 idle, 4 processing, 5 stopped (`printer-state`).
    public var state: Int
    public var reasons: [String]
    public var message: String
    public var acceptingJobs: Bool
    public var queuedJobs: Int
    public var makeAndModel: String
    public var deviceURI: String
    public var markers: [Marker]

    public struct Marker: Sendable, Equatable, Codable {
        public var name: String
        public var type: String
        /// 0-100, or negative when unknown.
        public var level: Int
    }

    public init(
        state: Int, reasons: [String] = [], message: String = "", acceptingJobs: Bool = true, queuedJobs: Int = 0, makeAndModel: String = "",
        deviceURI: String = "", markers: [Marker] = []
    ) {
        self.state = state
        self.reasons = reasons
        self.message = message
        self.acceptingJobs = acceptingJobs
        self.queuedJobs = queuedJobs
        self.makeAndModel = makeAndModel
        self.deviceURI = deviceURI
        self.markers = markers
    }
}

/// What CUPS says about a job (IPP Get-Job-Attributes).
public struct CupsJobStatus: Sendable, Equatable {
    /// 3 pending, 4 held, 5 processing, 6 stopped, 7 canceled, 8 aborted, 9 completed (`job-state`).
    public var state: Int
    public var reasons: [String]
    public var message: String
    public var pagesCompleted: Int

    public var isFinal: Bool { state >= 7 }
    public var name: String {
        switch state {
        case 3: "pending"
        case 4: "held"
        case 5: "processing"
        case 6: "stopped"
        case 7: "canceled"
        case 8: "aborted"
        case 9: "completed"
        default: "state \(state)"
        }
    }
}

/// A CUPS server as halld uses it: libcups calls on a thread of their own (libcups
/// keeps its default connection and server per thread), so a slow or absent
/// cupsd never blocks the cooperative pool. `server` is a socket path or host;
/// nil means libcups' own choice (`CUPS_SERVER`, client.conf, the local socket).
public final class CupsClient: Sendable {
    public let server: String?
    private let worker: BlockingWorker

    public init(server: String? = nil, name: String) {
        // libcups ignores SIGPIPE around each request and then puts back what it found.
        // Should it find the default (SIGPIPE kills) because its first request raced
        // with the first `SIG_IGN` of the process (NIO's), it would put the default back
        // after that ignore, and the next write to a closed pipe or socket would end
        // the process (a full test run died of SIGPIPE this way). Ignored before any
        // request, what libcups finds and restores is "ignore".
        signal(SIGPIPE, SIG_IGN)
        // libcups cancels threads of its own: see `ExitWithoutDestructors`.
        ExitWithoutDestructors.register()
        self.server = server
        self.worker = BlockingWorker(name: "cups \(name)")
    }

    deinit { worker.stop() }

    /// Runs `work` on the client's thread with its server selected.
    private func call<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        let server = server
        return try await worker.run {
            if let why = halld_cups_load() {
                throw DeviceError(.deviceNotReady, "CUPS: \(String(cString: why))", reasons: ["library-missing"], state: .offline)
            }
            if let server { cupsSetServer(server) }
            return try work()
        }
    }

    /// The server's name as libcups resolves it, for messages.
    public func serverName() async -> String {
        (try? await call { String(cString: cupsServer()) }) ?? (server ?? "default")
    }

    /// Names of the destinations (queues) the server has.
    public func destinations() async throws -> [String] {
        try await call {
            var dests: UnsafeMutablePointer<cups_dest_t>?
            let count = cupsGetDests2(nil, &dests)
            defer { cupsFreeDests(count, dests) }
            if count == 0, cupsLastError().rawValue > IPP_STATUS_OK_CONFLICTING.rawValue {
                throw Self.lastError("listing the queues")
            }
            return (0..<Int(count)).compactMap { i in dests?[i].name.map { String(cString: $0) } }
        }
    }

    public func printerAttributes(queue: String) async throws -> CupsPrinterAttributes {
        try await call {
            let request = ippNewRequest(IPP_OP_GET_PRINTER_ATTRIBUTES)
            ippAddString(request, IPP_TAG_OPERATION, IPP_TAG_URI, "printer-uri", nil, Self.printerURI(queue))
            Self.addKeywords(
                request, "requested-attributes",
                [
                    "printer-state", "printer-state-reasons", "printer-state-message", "printer-is-accepting-jobs", "queued-job-count",
                    "printer-make-and-model", "device-uri", "marker-names", "marker-types", "marker-levels",
                ])
            guard let response = cupsDoRequest(nil, request, "/") else { throw Self.lastError("reading queue \(queue)") }
            defer { ippDelete(response) }
            if cupsLastError().rawValue > IPP_STATUS_OK_CONFLICTING.rawValue { throw Self.lastError("reading queue \(queue)") }
            let names = Self.strings(response, "marker-names")
            let types = Self.strings(response, "marker-types")
            let levels = Self.integers(response, "marker-levels")
            let markers = names.enumerated().map { i, name in
                CupsPrinterAttributes.Marker(name: name, type: i < types.count ? types[i] : "", level: i < levels.count ? levels[i] : -1)
            }
            return CupsPrinterAttributes(
                state: Self.integers(response, "printer-state").first ?? 3, reasons: Self.strings(response, "printer-state-reasons").filter { $0 != "none" },
                message: Self.strings(response, "printer-state-message").first ?? "", acceptingJobs: Self.boolean(response, "printer-is-accepting-jobs") ?? true,
                queuedJobs: Self.integers(response, "queued-job-count").first ?? 0, makeAndModel: Self.strings(response, "printer-make-and-model").first ?? "",
                deviceURI: Self.strings(response, "device-uri").first ?? "", markers: markers)
        }
    }

    /// The document's name as sent with Send-Document: the title with each ASCII
    /// white-space character made `_`. Debian 12's cupsd 2.4.2-3+deb12u10 loops writing
    /// spaces past its buffer, and dies of it, when it starts a job whose document-name
    /// holds white space (`ticket A012`); every job queued is lost with it. The job's
    /// name (Create-Job's `job-name`, what `lpstat` shows) keeps the title as it is.
    static func documentName(_ title: String) -> String {
        String(decoding: title.utf8.map { b in b == 0x20 || (0x09...0x0D).contains(b) ? UInt8(ascii: "_") : b }, as: UTF8.self)
    }

    /// Submits a document (Create-Job, Send-Document) and returns CUPS's job id.
    /// `format` is a MIME type (`application/vnd.cups-raw`, `application/pdf`, `text/plain`).
    public func submit(queue: String, title: String, format: String, data: Data) async throws -> Int {
        try await call {
            let job = cupsCreateJob(nil, queue, title, 0, nil)
            guard job > 0 else { throw Self.lastError("creating a job on \(queue)") }
            guard cupsStartDocument(nil, queue, job, Self.documentName(title), format, 1) == HTTP_STATUS_CONTINUE else {
                throw Self.lastError("starting the document of job \(job) on \(queue)")
            }
            let written = data.withUnsafeBytes { buffer -> http_status_t in
                guard let base = buffer.baseAddress, buffer.count > 0 else { return HTTP_STATUS_CONTINUE }
                return cupsWriteRequestData(nil, base.assumingMemoryBound(to: CChar.self), buffer.count)
            }
            guard written == HTTP_STATUS_CONTINUE else {
                _ = cupsFinishDocument(nil, queue)
                throw Self.lastError("sending job \(job) to \(queue)")
            }
            guard cupsFinishDocument(nil, queue).rawValue <= IPP_STATUS_OK_CONFLICTING.rawValue else {
                throw Self.lastError("finishing job \(job) on \(queue)")
            }
            return Int(job)
        }
    }

    public func job(_ id: Int) async throws -> CupsJobStatus {
        try await call {
            let request = ippNewRequest(IPP_OP_GET_JOB_ATTRIBUTES)
            ippAddString(request, IPP_TAG_OPERATION, IPP_TAG_URI, "job-uri", nil, "ipp://localhost/jobs/\(id)")
            Self.addKeywords(request, "requested-attributes", ["job-state", "job-state-reasons", "job-printer-state-message", "job-impressions-completed"])
            guard let response = cupsDoRequest(nil, request, "/") else { throw Self.lastError("reading job \(id)") }
            defer { ippDelete(response) }
            if cupsLastError().rawValue > IPP_STATUS_OK_CONFLICTING.rawValue { throw Self.lastError("reading job \(id)") }
            return CupsJobStatus(
                state: Self.integers(response, "job-state").first ?? 3, reasons: Self.strings(response, "job-state-reasons").filter { $0 != "none" },
                message: Self.strings(response, "job-printer-state-message").first ?? "",
                pagesCompleted: Self.integers(response, "job-impressions-completed").first ?? 0)
        }
    }

    public func cancel(queue: String, job: Int) async throws {
        try await call {
            guard cupsCancelJob2(nil, queue, Int32(job), 0).rawValue <= IPP_STATUS_OK_CONFLICTING.rawValue else {
                throw Self.lastError("canceling job \(job) on \(queue)")
            }
        }
    }

    // MARK: subscriptions (notify-pull-method ippget)

    /// What Get-Notifications returned: the events since the last sequence number.
    public struct Notifications: Sendable, Equatable {
        public var events: [String]
        public var lastSequence: Int
    }

    /// Subscribes to the queue's state changes, pulled with Get-Notifications; the
    /// lease ends by itself if halld goes away without canceling it.
    public func subscribe(queue: String, leaseSeconds: Int = 600) async throws -> Int {
        try await call {
            let request = ippNewRequest(IPP_OP_CREATE_PRINTER_SUBSCRIPTIONS)
            ippAddString(request, IPP_TAG_OPERATION, IPP_TAG_URI, "printer-uri", nil, Self.printerURI(queue))
            ippAddString(request, IPP_TAG_OPERATION, IPP_TAG_NAME, "requesting-user-name", nil, cupsUser())
            ippAddString(request, IPP_TAG_SUBSCRIPTION, IPP_TAG_KEYWORD, "notify-pull-method", nil, "ippget")
            let events = ["printer-state-changed", "printer-config-changed", "printer-deleted", "printer-stopped"]
            let copies = events.map { strdup($0) }
            defer { copies.forEach { free($0) } }
            var pointers = copies.map { UnsafePointer<CChar>($0) }
            ippAddStrings(request, IPP_TAG_SUBSCRIPTION, IPP_TAG_KEYWORD, "notify-events", Int32(events.count), nil, &pointers)
            ippAddInteger(request, IPP_TAG_SUBSCRIPTION, IPP_TAG_INTEGER, "notify-lease-duration", Int32(leaseSeconds))
            guard let response = cupsDoRequest(nil, request, "/") else { throw Self.lastError("subscribing to \(queue)") }
            defer { ippDelete(response) }
            guard cupsLastError().rawValue <= IPP_STATUS_OK_CONFLICTING.rawValue, let id = Self.integers(response, "notify-subscription-id").first else {
                throw Self.lastError("subscribing to \(queue)")
            }
            return id
        }
    }

    /// The events of `subscription` after sequence number `after`.
    public func notifications(subscription: Int, after: Int) async throws -> Notifications {
        try await call {
            let request = ippNewRequest(IPP_OP_GET_NOTIFICATIONS)
            ippAddString(request, IPP_TAG_OPERATION, IPP_TAG_URI, "printer-uri", nil, "ipp://localhost/")
            ippAddString(request, IPP_TAG_OPERATION, IPP_TAG_NAME, "requesting-user-name", nil, cupsUser())
            ippAddInteger(request, IPP_TAG_OPERATION, IPP_TAG_INTEGER, "notify-subscription-ids", Int32(subscription))
            ippAddInteger(request, IPP_TAG_OPERATION, IPP_TAG_INTEGER, "notify-sequence-numbers", Int32(after + 1))
            guard let response = cupsDoRequest(nil, request, "/") else { throw Self.lastError("reading notifications") }
            defer { ippDelete(response) }
            if cupsLastError().rawValue > IPP_STATUS_OK_CONFLICTING.rawValue { throw Self.lastError("reading notifications of subscription \(subscription)") }
            var result = Notifications(events: [], lastSequence: after)
            var attr = ippFirstAttribute(response)
            while let a = attr {
                let name = ippGetName(a).map { String(cString: $0) }
                if name == "notify-subscribed-event", let event = ippGetString(a, 0, nil) { result.events.append(String(cString: event)) }
                if name == "notify-sequence-number" { result.lastSequence = max(result.lastSequence, Int(ippGetInteger(a, 0))) }
                attr = ippNextAttribute(response)
            }
            return result
        }
    }

    public func cancelSubscription(_ id: Int) async {
        _ = try? await call {
            let request = ippNewRequest(IPP_OP_CANCEL_SUBSCRIPTION)
            ippAddString(request, IPP_TAG_OPERATION, IPP_TAG_URI, "printer-uri", nil, "ipp://localhost/")
            ippAddString(request, IPP_TAG_OPERATION, IPP_TAG_NAME, "requesting-user-name", nil, cupsUser())
            ippAddInteger(request, IPP_TAG_OPERATION, IPP_TAG_INTEGER, "notify-subscription-id", Int32(id))
            if let response = cupsDoRequest(nil, request, "/") { ippDelete(response) }
        }
    }

    // MARK: IPP helpers (on the client's thread)

    static func printerURI(_ queue: String) -> String {
        "ipp://localhost/printers/\(queue.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed) ?? queue)"
    }

    static func addKeywords(_ request: OpaquePointer?, _ name: String, _ values: [String]) {
        let copies = values.map { strdup($0) }
        defer { copies.forEach { free($0) } }
        var pointers = copies.map { UnsafePointer<CChar>($0) }
        ippAddStrings(request, IPP_TAG_OPERATION, IPP_TAG_KEYWORD, name, Int32(values.count), nil, &pointers)
    }

    static func strings(_ response: OpaquePointer?, _ name: String) -> [String] {
        guard let attr = ippFindAttribute(response, name, IPP_TAG_ZERO) else { return [] }
        return (0..<ippGetCount(attr)).compactMap { i in ippGetString(attr, i, nil).map { String(cString: $0) } }
    }

    static func integers(_ response: OpaquePointer?, _ name: String) -> [Int] {
        guard let attr = ippFindAttribute(response, name, IPP_TAG_ZERO) else { return [] }
        return (0..<ippGetCount(attr)).map { Int(ippGetInteger(attr, $0)) }
    }

    static func boolean(_ response: OpaquePointer?, _ name: String) -> Bool? {
        guard let attr = ippFindAttribute(response, name, IPP_TAG_BOOLEAN) else { return nil }
        return ippGetBoolean(attr, 0) != 0
    }

    /// The last libcups error as a device error: a missing queue is `noDevice`,
    /// an unreachable server `offline`.
    static func lastError(_ doing: String) -> DeviceError {
        let status = cupsLastError()
        let text = String(cString: cupsLastErrorString())
        // libcups words a refused or missing socket as an internal error.
        let refused = status == IPP_STATUS_ERROR_INTERNAL && (text.lowercased().contains("connect") || text.lowercased().contains("no such file"))
        switch status {
        case IPP_STATUS_ERROR_NOT_FOUND:
            return DeviceError(.deviceNotReady, "\(doing): CUPS has no such queue (\(text))", reasons: [Reason.deviceAbsent, "queue-missing"], state: .noDevice)
        case _ where status == IPP_STATUS_ERROR_SERVICE_UNAVAILABLE || refused:
            return DeviceError(.deviceNotReady, "\(doing): CUPS is not reachable (\(text))", reasons: ["cups-unreachable"], state: .offline)
        case IPP_STATUS_ERROR_NOT_ACCEPTING_JOBS:
            return DeviceError(.deviceNotReady, "\(doing): the queue is not accepting jobs (\(text))", reasons: ["queue-rejecting-jobs"], state: .offline)
        case IPP_STATUS_ERROR_DOCUMENT_FORMAT_NOT_SUPPORTED:
            return DeviceError(.invalidData, "\(doing): the queue does not take this document format (\(text))")
        default:
            return DeviceError(.hardwareError, "\(doing): \(text) (IPP status 0x\(String(status.rawValue, radix: 16)))", state: .offline)
        }
    }
}
