import CSane
import DeviceKit
import Foundation
import Synchronization

/// One SANE option as the backend describes it.
public struct SaneOption: Sendable, Equatable {
    public enum Value: Sendable, Equatable {
        case bool(Bool), int(Int), fixed(Double), string(String), none
    }

    public var index: Int32
    public var name: String
    public var type: UInt32
    public var size: Int
    /// Set by software and active now (a backend turns options off as others change:
    /// a hand scanner has no scan area).
    public var settable: Bool
    public var strings: [String]
    public var numbers: [Double]
    public var range: ClosedRange<Double>?
    public var step: Double
}

/// A page's raw samples as SANE delivered them, 8 bits a sample.
public struct SaneFrame: Sendable {
    public var samples: [UInt8]
    public var width: Int
    public var height: Int
    public var channels: Int
}

/// What the one SANE thread is doing, for the scanners' stall watch: a backend call
/// that never returns (a backend's bug, a scanner that stopped answering without a
/// USB timeout) holds that thread, and every SANE call after it would wait behind it
/// for ever. Pure bookkeeping, kept under the session's lock.
struct SaneProgress: Sendable {
    /// The C call running now and the device (`sane_read on test:0`); nil when idle.
    private(set) var call: String?
    /// When `call` began, or last returned data.
    private(set) var since: ContinuousClock.Instant
    /// The call a watch gave up on: later calls fail at once, naming it, until it returns.
    private(set) var stuck: String?

    init(at now: ContinuousClock.Instant) { since = now }

    mutating func begin(_ call: String, at now: ContinuousClock.Instant) {
        self.call = call
        since = now
    }

    /// The call running returned data (it goes on: the next read of the page).
    mutating func progressed(at now: ContinuousClock.Instant) { since = now }

    mutating func end() {
        call = nil
        stuck = nil
    }

    /// The running call and how long it has gone without returning, when that is
    /// `limit` or more; it is then the stuck call.
    mutating func stall(longerThan limit: Duration, at now: ContinuousClock.Instant) -> (call: String, silent: Duration)? {
        guard let call, now - since >= limit else { return nil }
        stuck = call
        return (call, now - since)
    }
}

/// The SANE calls of one scan job, which a stall watch may give up on
/// (`SaneScanner.watched`): once given up, none of the job's calls still queued (behind
/// a stuck one, this job's or another scanner's) runs, so no option is set and no
/// sheet fed for a job that has ended.
public final class SaneJob: Sendable {
    private let state = Mutex((reading: false, givenUp: false))

    public init() {}

    /// On the SANE thread, as one of the job's calls starts (`reading`: a page's
    /// `sane_start` and reads): false when the job was given up.
    func enter(reading: Bool = false) -> Bool {
        state.withLock { s in
            guard !s.givenUp else { return false }
            if reading { s.reading = true }
            return true
        }
    }

    /// The page's read returned.
    func leaveReading() { state.withLock { $0.reading = false } }

    /// Gives the job's calls up; true when a page is being read now (its scan is then
    /// to be interrupted: `SaneHandle.interrupt`).
    public func giveUp() -> Bool {
        state.withLock { s in
            s.givenUp = true
            return s.reading
        }
    }

    static let givenUp = DeviceError(.canceled, "the scan job ended: its SANE calls were given up")
}

/// The process's SANE library: `sane_init` once, and every call on one thread of
/// its own (backends are not required to be thread-safe), so a scanner never
/// blocks the cooperative pool. `cancel` is the one call made from elsewhere, as
/// the SANE standard allows, so a cancel stops a job within one read.
public final class SaneSession: Sendable {
    public static let shared = SaneSession()

    private let worker = BlockingWorker(name: "sane")
    private let initialized = Mutex(false)
    private let progress = Mutex(SaneProgress(at: .now))
    /// False in a session of the tests' own, whose thread runs work without SANE.
    private let usesLibrary: Bool

    private init() { usesLibrary = true }

    /// A session of its own whose thread never loads SANE: for tests of the stall watch.
    init(withoutLibrary: Void) { usesLibrary = false }

    /// Runs `work` on the SANE thread, `what` (a C call and a device) marking it for
    /// the stall watch; at once with the stuck call's error while one is stuck.
    private func call<T: Sendable>(_ what: String, _ work: @escaping @Sendable () throws -> T) async throws -> T {
        if let stuck = progress.withLock({ $0.stuck }) { throw Self.stuckError(stuck) }
        return try await worker.run { [self] in
            progress.withLock { $0.begin(what, at: .now) }
            defer { progress.withLock { $0.end() } }
            try self.initialized.withLock { done in
                if !done && usesLibrary {
                    if let why = halld_sane_load() {
                        throw DeviceError(.deviceNotReady, "SANE: \(String(cString: why))", reasons: ["library-missing"], state: .offline)
                    }
                    var version: SANE_Int = 0
                    let status = sane_init(&version, nil)
                    guard status == SANE_STATUS_GOOD else { throw Self.error(status, "sane_init") }
                    // Backends cancel their reader threads: see `ExitWithoutDestructors`.
                    ExitWithoutDestructors.register()
                    done = true
                }
            }
            defer { Self.ignoreSIGPIPEAgain() }
            return try work()
        }
    }

    /// The SANE thread moves to `call` within the job running (from `sane_start` to
    /// `sane_read`), or `call` returned data and goes on.
    func progressed(_ call: String? = nil) {
        progress.withLock { p in
            if let call { p.begin(call, at: .now) } else { p.progressed(at: .now) }
        }
    }

    /// When the call running has gone `limit` without returning: it, and for how long.
    /// It is then stuck: every later call fails at once until it returns.
    public func stall(longerThan limit: Duration) -> (call: String, silent: Duration)? {
        progress.withLock { $0.stall(longerThan: limit, at: .now) }
    }

    /// When the call running began or last returned data, nil when the SANE thread is idle.
    public var busySince: ContinuousClock.Instant? {
        progress.withLock { $0.call == nil ? nil : $0.since }
    }

    /// A call that has not returned: nothing on the SANE thread can run until it does.
    public static func stuckError(_ call: String, silent: Duration? = nil) -> DeviceError {
        let time = silent.map { d in " for \(String(format: "%.1f", Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18)) s" } ?? ""
        return DeviceError(
            .hardwareError,
            "SANE's \(call) has not returned\(time): the scanner or its backend stopped answering. No SANE call can run until it returns: unplug and plug in the scanner, or restart halld",
            reasons: [Reason.driverStalled], state: .hardwareError)
    }

    /// SANE backends may set SIGPIPE back to its default (the test backend does in
    /// sane_cancel and at the end of a frame): process-wide, so the next write to a
    /// closed socket or pipe would end halld. Every SANE call is followed by this.
    static func ignoreSIGPIPEAgain() {
        signal(SIGPIPE, SIG_IGN)
    }

    /// Device names with vendor and model (`sane_get_devices`, local devices only).
    public func devices() async throws -> [(name: String, vendor: String, model: String, type: String)] {
        try await call("sane_get_devices") {
            var list: UnsafeMutablePointer<UnsafePointer<SANE_Device>?>?
            let status = sane_get_devices(&list, SANE_Bool(SANE_TRUE))
            guard status == SANE_STATUS_GOOD, let list else { throw Self.error(status, "listing SANE devices") }
            var out: [(String, String, String, String)] = []
            var i = 0
            while let d = list[i] {
                out.append((String(cString: d.pointee.name), String(cString: d.pointee.vendor), String(cString: d.pointee.model), String(cString: d.pointee.type)))
                i += 1
            }
            return out
        }
    }

    public func open(_ name: String) async throws -> SaneHandle {
        let raw: UInt = try await call("sane_open on \(name)") {
            var handle: SANE_Handle?
            let status = sane_open(name, &handle)
            guard status == SANE_STATUS_GOOD, let handle else { throw Self.error(status, "opening SANE device \(name)") }
            return UInt(bitPattern: handle)
        }
        return SaneHandle(session: self, raw: raw, name: name)
    }

    func run<T: Sendable>(_ what: String, _ work: @escaping @Sendable () throws -> T) async throws -> T { try await call(what, work) }

    /// A SANE status as a device error, in the status model's words.
    public static func error(_ status: SANE_Status, _ doing: String) -> DeviceError {
        let text = String(cString: sane_strstatus(status))
        switch status {
        case SANE_STATUS_JAMMED:
            return DeviceError(.userError, "\(doing): paper jam (\(text))", reasons: [Reason.mediaJam], state: .userError)
        case SANE_STATUS_COVER_OPEN:
            return DeviceError(.userError, "\(doing): cover open (\(text))", reasons: [Reason.coverOpen], state: .userError)
        case SANE_STATUS_NO_DOCS:
            return DeviceError(.userError, "\(doing): the feeder is empty (\(text))", reasons: [Reason.feederEmpty], state: .online)
        case SANE_STATUS_DEVICE_BUSY:
            return DeviceError(.deviceNotReady, "\(doing): the scanner is busy (\(text))", reasons: ["device-busy-report"], state: .busy)
        case SANE_STATUS_IO_ERROR:
            return DeviceError(.hardwareError, "\(doing): I/O error talking to the scanner (\(text))", reasons: ["communication-error"], state: .offline)
        case SANE_STATUS_ACCESS_DENIED:
            return DeviceError(.deviceNotReady, "\(doing): access denied: add halld's user to the scanner group (\(text))", reasons: ["permission-denied-error"], state: .offline)
        case SANE_STATUS_INVAL where doing.hasPrefix("opening"):
            return DeviceError(.deviceNotReady, "\(doing): no such device (\(text))", reasons: [Reason.deviceAbsent], state: .noDevice)
        case SANE_STATUS_CANCELLED:
            return DeviceError(.canceled, "\(doing): canceled")
        default:
            return DeviceError(.hardwareError, "\(doing): \(text)", state: .hardwareError)
        }
    }
}

/// An open SANE device. Option and scan calls run on the session's thread.
public final class SaneHandle: Sendable {
    public let name: String
    private let session: SaneSession
    private let raw: UInt
    private let closed = Mutex(false)
    /// Set by `cancel`: backends may answer a cancel with EOF, and a cut page is not a page.
    private let canceled = Mutex(false)

    fileprivate init(session: SaneSession, raw: UInt, name: String) {
        self.session = session
        self.raw = raw
        self.name = name
    }

    private var handle: SANE_Handle { SANE_Handle(bitPattern: raw)! }

    public func close() async {
        guard !closed.withLock({ c in defer { c = true }; return c }) else { return }
        let raw = raw
        _ = try? await session.run("sane_close on \(name)") { sane_close(SANE_Handle(bitPattern: raw)!) }
    }

    /// Stops the running scan within one read (callable from any thread).
    public func cancel() {
        guard !closed.withLock({ $0 }) else { return }
        canceled.withLock { $0 = true }
        sane_cancel(handle)
        SaneSession.ignoreSIGPIPEAgain()
    }

    /// Ends the scan in progress (`sane_cancel`, callable from any thread) for a job
    /// that has already ended: a watch gave up on its calls (`SaneJob`), whose page, cut
    /// or not, nobody takes. Unlike `cancel`, nothing stays set for the next job.
    public func interrupt() {
        guard !closed.withLock({ $0 }) else { return }
        sane_cancel(handle)
        SaneSession.ignoreSIGPIPEAgain()
    }

    public func options(_ job: SaneJob? = nil) async throws -> [SaneOption] {
        let raw = raw
        return try await session.run("sane_get_option_descriptor on \(name)") {
            if job?.enter() == false { throw SaneJob.givenUp }
            return Self.readOptions(SANE_Handle(bitPattern: raw)!)
        }
    }

    static func readOptions(_ h: SANE_Handle) -> [SaneOption] {
        var count: SANE_Int = 0
        _ = sane_control_option(h, 0, SANE_ACTION_GET_VALUE, &count, nil)
        var out: [SaneOption] = []
        for i in 1..<max(1, count) {
            guard let d = sane_get_option_descriptor(h, i)?.pointee, let namePtr = d.name else { continue }
            var option = SaneOption(
                index: i, name: String(cString: namePtr), type: d.type.rawValue, size: Int(d.size), settable: (d.cap & SANE_CAP_SOFT_SELECT) != 0 && (d.cap & SANE_CAP_INACTIVE) == 0,
                strings: [], numbers: [], range: nil, step: 0)
            let fixed = d.type == SANE_TYPE_FIXED
            func number(_ w: SANE_Word) -> Double { fixed ? Double(w) / 65536 : Double(w) }
            switch d.constraint_type {
            case SANE_CONSTRAINT_STRING_LIST:
                var j = 0
                while let s = d.constraint.string_list[j] {
                    option.strings.append(String(cString: s))
                    j += 1
                }
            case SANE_CONSTRAINT_WORD_LIST:
                let list = d.constraint.word_list!
                option.numbers = (0..<Int(list[0])).map { number(list[$0 + 1]) }
            case SANE_CONSTRAINT_RANGE:
                let r = d.constraint.range.pointee
                option.range = number(r.min)...number(r.max)
                option.step = number(r.quant)
            default: break
            }
            out.append(option)
        }
        return out
    }

    /// Sets an option by name; numbers go to INT or FIXED options as the backend wants them.
    public func set(_ name: String, _ value: SaneOption.Value, job: SaneJob? = nil) async throws {
        let raw = raw
        try await session.run("sane_control_option \(name) on \(self.name)") {
            if job?.enter() == false { throw SaneJob.givenUp }
            let h = SANE_Handle(bitPattern: raw)!
            guard let option = Self.readOptions(h).first(where: { $0.name == name }) else {
                throw DeviceError(.unsupportedCommand, "the scanner has no option \(name)")
            }
            var info: SANE_Int = 0
            let status: SANE_Status
            // Configuration writes every option as text: read it as the option's type.
            var value = value
            if case .string(let text) = value, option.type != SANE_TYPE_STRING.rawValue {
                if option.type == SANE_TYPE_BOOL.rawValue {
                    value = .bool(["true", "yes", "1", "on"].contains(text.lowercased()))
                } else if let number = Double(text) {
                    value = .fixed(number)
                } else {
                    throw DeviceError(.invalidData, "option \(name) takes a number, not \"\(text)\"")
                }
            }
            switch (value, option.type) {
            case (.string(let s), SANE_TYPE_STRING.rawValue):
                var buffer = [CChar](repeating: 0, count: max(option.size, s.utf8.count + 1))
                _ = s.withCString { strncpy(&buffer, $0, buffer.count - 1) }
                status = sane_control_option(h, option.index, SANE_ACTION_SET_VALUE, &buffer, &info)
            case (.bool(let b), SANE_TYPE_BOOL.rawValue):
                var w = SANE_Word(b ? 1 : 0)
                status = sane_control_option(h, option.index, SANE_ACTION_SET_VALUE, &w, &info)
            case (.int(let n), SANE_TYPE_INT.rawValue):
                var w = SANE_Word(n)
                status = sane_control_option(h, option.index, SANE_ACTION_SET_VALUE, &w, &info)
            case (.int(let n), SANE_TYPE_FIXED.rawValue):
                var w = SANE_Word(Double(n) * 65536)
                status = sane_control_option(h, option.index, SANE_ACTION_SET_VALUE, &w, &info)
            case (.fixed(let x), SANE_TYPE_FIXED.rawValue):
                var w = SANE_Word(x * 65536)
                status = sane_control_option(h, option.index, SANE_ACTION_SET_VALUE, &w, &info)
            case (.fixed(let x), SANE_TYPE_INT.rawValue):
                var w = SANE_Word(x.rounded())
                status = sane_control_option(h, option.index, SANE_ACTION_SET_VALUE, &w, &info)
            default:
                throw DeviceError(.invalidData, "option \(name) does not take \(value)")
            }
            guard status == SANE_STATUS_GOOD else { throw SaneSession.error(status, "setting \(name)") }
        }
    }

    /// Starts the next page: nil when the feeder has no more documents.
    /// Reads the whole frame; the handle stays started for the next page of an ADF batch.
    public func readPage(_ job: SaneJob? = nil) async throws -> SaneFrame? {
        let raw = raw
        let (session, device) = (session, name)
        return try await session.run("sane_start on \(device)") { [self] in
            let h = SANE_Handle(bitPattern: raw)!
            if job?.enter(reading: true) == false { throw SaneJob.givenUp }
            defer { job?.leaveReading() }
            if canceled.withLock({ $0 }) { throw SaneSession.error(SANE_STATUS_CANCELLED, "scanning") }
            let status = sane_start(h)
            session.progressed("sane_read on \(device)")
            if status == SANE_STATUS_NO_DOCS { return nil }
            guard status == SANE_STATUS_GOOD else { throw SaneSession.error(status, "starting the scan") }
            var p = SANE_Parameters()
            let ps = sane_get_parameters(h, &p)
            guard ps == SANE_STATUS_GOOD else { throw SaneSession.error(ps, "reading the scan parameters") }
            let channels = p.format == SANE_FRAME_RGB ? 3 : 1
            // A page of known size is read straight into its array (a copy through a
            // read buffer was a tenth of halld's work in a PNM job); what the backend
            // sends beyond it, or a page of unknown length (a hand scanner), goes through
            // the buffer.
            var ended = false
            var data: [UInt8] = []
            if p.lines > 0 {
                let expected = Int(p.bytes_per_line) * Int(p.lines)
                data = try [UInt8](unsafeUninitializedCapacity: expected) { page, count in
                    while count < expected {
                        var length: SANE_Int = 0
                        let rs = sane_read(h, page.baseAddress! + count, SANE_Int(min(Self.readSize, expected - count)), &length)
                        session.progressed()
                        SaneSession.ignoreSIGPIPEAgain()
                        if rs == SANE_STATUS_EOF { ended = true; return }
                        guard rs == SANE_STATUS_GOOD else { throw SaneSession.error(rs, "reading the page") }
                        count += Int(length)
                    }
                }
            }
            if !ended {
                var buffer = [UInt8](repeating: 0, count: Self.readSize)
                while true {
                    var length: SANE_Int = 0
                    let rs = sane_read(h, &buffer, SANE_Int(buffer.count), &length)
                    session.progressed()
                    SaneSession.ignoreSIGPIPEAgain()
                    if rs == SANE_STATUS_EOF { break }
                    guard rs == SANE_STATUS_GOOD else { throw SaneSession.error(rs, "reading the page") }
                    data.append(contentsOf: buffer[0..<Int(length)])
                }
            }
            if canceled.withLock({ $0 }) { throw SaneSession.error(SANE_STATUS_CANCELLED, "reading the page") }
            let bpl = Int(p.bytes_per_line)
            let width = Int(p.pixels_per_line)
            let height = bpl > 0 ? data.count / bpl : 0
            // 8-bit rows without padding (what scanners send for color and gray) are the
            // samples as read: no copy of the page (26 MB at 300 dpi color, A4), only a
            // partial last row dropped.
            if p.depth == 8 && bpl == width * channels {
                data.removeLast(data.count - bpl * height)
                return SaneFrame(samples: data, width: width, height: height, channels: channels)
            }
            return SaneFrame(samples: Self.eightBit(data, depth: Int(p.depth), width: width, height: height, bytesPerLine: bpl, channels: channels),
                width: width, height: height, channels: channels)
        }
    }

    /// The most asked of one `sane_read`.
    static let readSize = 256 * 1024

    /// Ends the batch (after the last page, or on error).
    public func finish(_ job: SaneJob? = nil) async {
        let raw = raw
        _ = try? await session.run("sane_cancel on \(name)") { [self] in
            if job?.enter() == false { throw SaneJob.givenUp }
            sane_cancel(SANE_Handle(bitPattern: raw)!)
        }
        // After the backend's cancel, or when the call failed (the session stuck:
        // `stall`): a job canceled leaves no cancel for the next.
        canceled.withLock { $0 = false }
    }

    /// 1-bit lineart (1 = black) and 16-bit samples as 8-bit, rows packed (and 8-bit
    /// rows with padding; `readPage` takes unpadded 8-bit rows as they are).
    static func eightBit(_ data: [UInt8], depth: Int, width: Int, height: Int, bytesPerLine: Int, channels: Int) -> [UInt8] {
        let stride = width * channels
        var out = [UInt8](repeating: 0, count: stride * height)
        for y in 0..<height {
            let row = y * bytesPerLine
            for x in 0..<stride {
                switch depth {
                case 1: out[y * stride + x] = (data[row + x / 8] >> (7 - UInt8(x % 8))) & 1 == 1 ? 0 : 255
                case 16: out[y * stride + x] = data[row + x * 2 + 1]
                default: out[y * stride + x] = data[row + x]
                }
            }
        }
        return out
    }
}
