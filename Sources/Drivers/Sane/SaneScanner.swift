import DeviceKit
import Foundation
import Imaging
import Transports

/// A document scanner driven through SANE: the backend's options become the
/// scanner's capabilities, a job sets source, mode, resolution and an A4 area,
/// and pages are read on the SANE thread until the feeder is empty. Pages are
/// encoded (JPEG, PNG, PNM) on encoder threads while the next is read, two at once
/// on a PC with two cores or more, and delivered in their order.
public actor SaneScanner: DocumentScanner, HardwareResettable {
    public nonisolated let id: DeviceID
    public nonisolated let kind = DeviceKind.scanner
    public nonisolated let driver = "sane"
    public nonisolated let name: String
    /// The SANE device name (`test:0`, `fujitsu:libusb:001:004`).
    public nonisolated let deviceName: String?
    /// The scanner's USB id (and serial): the SANE device is found on the bus
    /// (`libusb:BBB:DDD` in its SANE name), and a reset is a USB port reset.
    public nonisolated let usb: USBPresence.Wanted?
    let bus: (any USBEnumeration)?
    /// Backend options set before every job (`sane_options` in configuration).
    let backendOptions: [String: String]
    /// How long a scan's SANE call (an option, `sane_start`, a `sane_read`, the closing
    /// `sane_cancel`) may go without returning before the job fails (`stall_seconds` in
    /// configuration): a backend that never returns would hold the one SANE thread, and
    /// the job would stay `processing` for ever.
    let stallLimit: Duration
    let session: SaneSession
    /// One thread per page encoded at once: two where there are two cores or more.
    private let encoders: [BlockingWorker]
    private var handle: SaneHandle?
    private var options: [SaneOption] = []
    private var context: DeviceContext?
    private var status = DeviceStatus.online

    public init(
        id: DeviceID, name: String, deviceName: String?, usb: USBPresence.Wanted? = nil, bus: (any USBEnumeration)? = nil,
        backendOptions: [String: String] = [:], stallLimit: Duration = .seconds(120), session: SaneSession = .shared
    ) {
        self.id = id
        self.name = name
        self.deviceName = deviceName
        self.usb = usb
        self.bus = bus
        self.backendOptions = backendOptions
        self.stallLimit = stallLimit
        self.session = session
        self.encoders = (1...min(2, max(1, ProcessInfo.processInfo.activeProcessorCount))).map { BlockingWorker(name: "scan encoder \($0) \(id)") }
    }

    deinit { encoders.forEach { $0.stop() } }

    /// Source names as backends spell them.
    static func source(_ s: String) -> ScanSource? {
        let l = s.lowercased()
        if l.contains("duplex") { return .adfDuplex }
        if l.contains("adf") || l.contains("feeder") || l.contains("automatic document") { return .adf }
        if l.contains("flatbed") || l.contains("normal") { return .flatbed }
        return nil
    }

    static func mode(_ s: String) -> ScanMode? {
        switch s.lowercased() {
        case "color", "colour", "24bit color": .color
        case "gray", "grey", "grayscale", "8bit gray": .gray
        case "lineart", "binary", "black & white", "halftone": .lineart
        default: nil
        }
    }

    static let standardResolutions = [75, 100, 150, 200, 300, 400, 600]

    static func capabilities(_ options: [SaneOption]) -> DeviceCapabilities {
        var c = DeviceCapabilities()
        let sources = options.first { $0.name == "source" }?.strings.compactMap(source) ?? [.flatbed]
        c.sources = sources.isEmpty ? [.flatbed] : Array(Set(sources)).sorted { $0.rawValue < $1.rawValue }
        c.modes = Array(Set(options.first { $0.name == "mode" }?.strings.compactMap(mode) ?? [.color])).sorted { $0.rawValue < $1.rawValue }
        if let r = options.first(where: { $0.name == "resolution" }) {
            if let range = r.range {
                c.resolutions = standardResolutions.filter { range.contains(Double($0)) }
            } else {
                c.resolutions = r.numbers.map { Int($0) }.filter { $0 > 0 }
            }
        }
        c.formats = ImageEncoding.formats + ["pdf"]
        c.duplex = c.sources?.contains(.adfDuplex) ?? false
        return c
    }

    /// The USB device this scanner is, when configured by USB id.
    private func usbDevice() async throws -> USBDeviceInfo {
        guard let usb, let bus else { throw DeviceError(.unsupportedCommand, "\(id) is not configured by USB id", device: id) }
        guard let found = try await bus.devices().first(where: usb.matches) else {
            throw DeviceError(.deviceNotReady, "no USB device \(usb.usb)\(usb.serialNumber.map { " serial \($0)" } ?? "") on the bus", device: id, reasons: [Reason.deviceAbsent], state: .noDevice)
        }
        return found
    }

    /// The SANE name: configured, or the SANE device on the matching USB device.
    private func resolveName() async throws -> String {
        if let deviceName { return deviceName }
        let device = try await usbDevice()
        let names = try await session.devices().map(\.name)
        guard let name = names.first(where: { $0.hasSuffix(device.saneLibUSBName) || $0.contains(device.saneLibUSBName + ":") }) else {
            throw DeviceError(
                .deviceNotReady, "USB device \(device.id) at \(device.portPath) has no SANE device (SANE finds: \(names.joined(separator: ", ")))", device: id,
                reasons: [Reason.deviceAbsent], state: .noDevice)
        }
        return name
    }

    public func hardwareReset() async throws {
        guard let bus else { return }
        try await bus.reset(try await usbDevice())
    }

    public func open(context: DeviceContext) async throws -> DeviceOpenInfo {
        await handle?.close()
        handle = nil
        let handle: SaneHandle
        let deviceName = try await resolveName()
        do {
            handle = try await session.open(deviceName)
        } catch var e as DeviceError {
            e.device = id
            if e.state == .noDevice, let names = try? await session.devices().map(\.name) {
                e.message += names.isEmpty ? "; SANE finds no scanners" : "; SANE finds: \(names.joined(separator: ", "))"
            }
            throw e
        }
        self.handle = handle
        options = try await handle.options()
        self.context = context
        let listed = try? await session.devices().first { $0.name == deviceName }
        let identity = DeviceIdentity(
            vendor: listed?.vendor, model: listed.map { "\($0.model) (\($0.type))" } ?? deviceName, serialNumber: usb?.serialNumber,
            connection: "sane \(deviceName)\(usb.map { " usb \($0.usb)" } ?? "")")
        status = .online
        return DeviceOpenInfo(identity: identity, capabilities: Self.capabilities(options), status: status)
    }

    public func close() async {
        await handle?.close()
        handle = nil
    }

    /// Sets a backend option for the jobs that follow (a technician's or a test's
    /// hook: the test backend's `read-return-value` simulates jams).
    public func setBackendOption(_ name: String, _ value: String) async throws {
        guard let h = handle else { throw DeviceError(.deviceNotReady, "\(id) is not open", device: id) }
        try await h.set(name, .string(value))
        extraOptions[name] = value
    }

    private var extraOptions: [String: String] = [:]

    private func report(_ new: DeviceStatus) {
        guard new != status else { return }
        status = new
        context?.report(.status(new))
    }

    /// Sets source, mode, resolution, 8-bit depth and the A4 area (or the most the scanner takes).
    private func configure(_ h: SaneHandle, _ s: ScanSettings, _ job: SaneJob) async throws {
        let given = backendOptions.merging(extraOptions, uniquingKeysWith: { $1 })
        for (name, value) in given.sorted(by: { $0.key < $1.key }) {
            try await h.set(name, .string(value), job: job)
        }
        if let o = options.first(where: { $0.name == "source" }), let word = o.strings.first(where: { Self.source($0) == s.source }) {
            try await h.set("source", .string(word), job: job)
        }
        if let o = options.first(where: { $0.name == "mode" }), let word = o.strings.first(where: { Self.mode($0) == s.mode }) {
            try await h.set("mode", .string(word), job: job)
        }
        // The backend's own options, the source and the mode can turn others on or off
        // (a hand scanner has no scan area): the descriptors are read again before the
        // depth, resolution and area are set.
        options = try await h.options(job)
        if options.contains(where: { $0.name == "depth" && $0.settable }), s.mode != .lineart { try await h.set("depth", .int(8), job: job) }
        if options.contains(where: { $0.name == "resolution" }) { try await h.set("resolution", .int(s.resolution), job: job) }
        for (name, mm) in [("tl-x", 0.0), ("tl-y", 0.0), ("br-x", 210.0), ("br-y", 297.0)] {
            guard let o = options.first(where: { $0.name == name && $0.settable }) else { continue }
            let value = o.range.map { min(max(mm, $0.lowerBound), $0.upperBound) } ?? mm
            try await h.set(name, .fixed(value), job: job)
        }
    }

    public func scan(_ settings: ScanSettings, page: @Sendable (ScannedPage) async throws -> Void) async throws -> Int {
        guard let h = handle else { throw DeviceError(.deviceNotReady, "\(id) is not open", device: id, state: .offline) }
        guard ImageEncoding.formats.contains(settings.format) else {
            throw DeviceError(.invalidData, "format '\(settings.format)' is not one of \(ImageEncoding.formats.joined(separator: ", "))", device: id)
        }
        context?.report(.count(.scanJobs, 1))
        // Every SANE call of the job is watched (`watched`): one that does not return
        // within the stall limit ends the job, and the job's calls after it never run.
        let job = SaneJob()
        do {
            try await watched(h, job) { [self] in try await self.configure(h, settings, job) }
            let count = try await withTaskCancellationHandler {
                try await readPages(h, settings, job, page: page)
            } onCancel: {
                h.cancel()
            }
            do {
                try await watched(h, job) { await h.finish(job) }
                report(.online)
            } catch var e as DeviceError where e.reasons == [Reason.driverStalled] {
                // The pages were delivered: the job completes, the scanner is reported.
                e.device = id
                context?.logger.error("\(e)")
                report(DeviceStatus(.hardwareError, reasons: e.reasons))
            }
            return count
        } catch {
            try? await watched(h, job) { await h.finish(job) }
            if Task.isCancelled { throw DeviceError(.canceled, "scan canceled", device: id) }
            guard var e = error as? DeviceError else { throw error }
            e.device = id
            if e.code == .canceled { throw e }
            if e.reasons.contains("communication-error") { context?.report(.count(.communicationErrors, 1)) }
            if let state = e.state { report(DeviceStatus(state, reasons: e.reasons)) }
            throw e
        }
    }

    /// Reads until the feeder is empty (ADF) or one page (flatbed), or `maxPages`.
    /// Each page is encoded while the next is read, on as many encoder threads as there
    /// are (one page each: a color A4 page at 300 dpi is 26 MB of samples), and
    /// delivered after the page before it, so pages arrive in their order. PNM pages,
    /// which are only copied behind their header, take one encoder at a time: two copies
    /// at once were slower (memory, not the cores, is what they wait for).
    private func readPages(_ h: SaneHandle, _ settings: ScanSettings, _ job: SaneJob, page: @Sendable (ScannedPage) async throws -> Void) async throws -> Int {
        let limit = settings.source == .flatbed ? 1 : (settings.maxPages ?? Int.max)
        let (format, id, context) = (settings.format, id, context)
        let encoders = format == "pnm" ? [encoders[0]] : encoders
        let order = PageOrder()
        return try await withoutActuallyEscaping(page) { page in
            try await withThrowingTaskGroup(of: Void.self) { group in
                var read = 0
                var encoding = 0
                while read < limit {
                    guard let frame = try await watched(h, job, { try await h.readPage(job) }) else {
                        if read == 0, settings.source != .flatbed {
                            throw DeviceError(.userError, "the feeder of \(id) is empty", device: id, reasons: [Reason.feederEmpty], state: .online)
                        }
                        break
                    }
                    read += 1
                    context?.report(.count(.pagesScanned, 1))
                    // Every encoder has a page: the next waits until one is done.
                    if encoding == encoders.count {
                        try await group.next()
                        encoding -= 1
                    }
                    let (number, encoder) = (read, encoders[read % encoders.count])
                    group.addTask {
                        let encoded: Result<Data, any Error>
                        do {
                            encoded = .success(
                                try await encoder.run {
                                    try ImageEncoding.encode(frame.samples, width: frame.width, height: frame.height, channels: frame.channels, format: format)
                                })
                        } catch {
                            encoded = .failure(error)
                        }
                        // After the page before it, whichever was encoded first; not at all
                        // when a page before it failed: the job fails with that page's error,
                        // which is the group's only one.
                        guard await order.turn(number) else { return }
                        do {
                            try await page(
                                ScannedPage(
                                    number: number, width: frame.width, height: frame.height, mediaType: ImageEncoding.mediaType(format), data: try encoded.get()))
                            await order.done(number, delivered: true)
                        } catch {
                            await order.done(number, delivered: false)
                            throw error
                        }
                    }
                    encoding += 1
                }
                try await group.waitForAll()
                return read
            }
        }
    }

    /// `operation` (SANE calls of `job`), watched: its result, or a
    /// `driver-stalled-error` when the SANE thread's call (the job's, or another
    /// scanner's it waits behind) has gone the stall limit without returning.
    private func watched<T: Sendable>(_ h: SaneHandle, _ job: SaneJob, _ operation: @escaping @Sendable () async throws -> T) async throws -> T {
        try await Self.watched(session: session, limit: stallLimit, job: job, interrupt: { h.interrupt() }, operation)
    }

    /// `operation`'s result, or a `driver-stalled-error` when the session's call has
    /// gone `limit` without returning: the session then fails every call at once until
    /// it returns, the job ends with the error instead of waiting for ever, and the
    /// job's calls are given up — those still queued never run, and a page being read
    /// is interrupted (`interrupt`: `sane_cancel`, from a thread of its own, as it may
    /// block too). The watch wakes once each time the limit would run out, no more.
    static func watched<T: Sendable>(
        session: SaneSession, limit: Duration, job: SaneJob, interrupt: @escaping @Sendable () -> Void, _ operation: @escaping @Sendable () async throws -> T
    ) async throws -> T {
        let result = OneShot<T>()
        let running = Task {
            do { result.fulfill(try await operation()) } catch { result.fail(error) }
        }
        let watch = Task {
            while !Task.isCancelled {
                let since = session.busySince ?? .now
                try await Task.sleep(until: since + limit, clock: .continuous)
                if let (call, silent) = session.stall(longerThan: limit) {
                    // The job's error first: the interrupted read may return at once.
                    result.fail(SaneSession.stuckError(call, silent: silent))
                    if job.giveUp() { Thread.detachNewThread(interrupt) }
                    return
                }
            }
        }
        defer { watch.cancel() }
        return try await withTaskCancellationHandler {
            try await result.wait()
        } onCancel: {
            running.cancel()
        }
    }

    public func healthCheck(_ level: HealthLevel) async throws -> HealthReport {
        var checks: [HealthCheckItem] = []
        if let h = handle {
            do {
                let opts = try await h.options()
                let caps = Self.capabilities(opts)
                checks.append(
                    HealthCheckItem(
                        "options", passed: true,
                        "\(opts.count) options; sources \(caps.sources?.map(\.rawValue).joined(separator: ", ") ?? "-"); modes \(caps.modes?.map(\.rawValue).joined(separator: ", ") ?? "-")"))
            } catch {
                checks.append(HealthCheckItem("options", passed: false, "\(error)"))
            }
        } else {
            checks.append(HealthCheckItem("options", passed: false, "\(deviceName ?? usb.map { "USB \($0.usb)" } ?? "the scanner") is not open"))
        }
        if level != .internal, checks.allSatisfy(\.passed) {
            let source = Self.capabilities(options).sources?.contains(.flatbed) == true ? ScanSource.flatbed : .adf
            let size = SizeBox()
            do {
                _ = try await scan(ScanSettings(source: source, mode: .gray, resolution: 75, format: "pnm", maxPages: 1)) { p in size.set(p.width, p.height, p.data.count) }
                checks.append(HealthCheckItem("test scan", passed: size.value != nil, size.value.map { "one page \($0.0)x\($0.1) pixels at 75 dpi, \($0.2) bytes" } ?? "no page"))
            } catch {
                checks.append(HealthCheckItem("test scan", passed: false, "\(error)"))
            }
        }
        return HealthReport(device: id, level: level, checks: checks)
    }
}

/// The size of the health check's page, set from the page callback.
final class SizeBox: @unchecked Sendable {
    // @unchecked: set once by the scan, read after it returned.
    var value: (Int, Int, Int)?
    func set(_ w: Int, _ h: Int, _ bytes: Int) { value = (w, h, bytes) }
}

/// The order pages are delivered in when they are encoded at once: each waits its
/// turn (the page before it delivered), and once one is not delivered (it failed),
/// the pages after it are not either.
actor PageOrder {
    private var next = 1
    private var failed = false
    private var waiting: [Int: CheckedContinuation<Bool, Never>] = [:]

    /// Returns when page `number` is next: true to deliver it, false when a page
    /// before it failed.
    func turn(_ number: Int) async -> Bool {
        if failed { return false }
        if number == next { return true }
        return await withCheckedContinuation { waiting[number] = $0 }
    }

    /// Page `number` is delivered, or failed: the next page's turn.
    func done(_ number: Int, delivered: Bool) {
        if !delivered { failed = true }
        next = number + 1
        if failed {
            for (_, c) in waiting { c.resume(returning: false) }
            waiting = [:]
        } else {
            waiting.removeValue(forKey: next)?.resume(returning: true)
        }
    }
}
