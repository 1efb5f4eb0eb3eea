import DeviceKit
import Foundation
import Synchronization

/// Reads an answer out of the bytes that arrive after a request.
public protocol AnswerReader: Sendable {
    associatedtype Answer: Sendable
    /// Takes the next bytes; returns the answer once it is complete.
    mutating func consume(_ bytes: [UInt8]) -> Answer?
    /// What was not part of a valid answer, for counting and the log (hex, offset, reason).
    var noise: [String] { get }
}

/// The outcome of one request/answer exchange.
public enum Exchange<Answer: Sendable>: Sendable {
    case answer(Answer, noise: [String])
    case timeout(noise: [String])
}

/// One serial port shared by every device on it (an RS-485 bus). Exchanges run one
/// at a time on the line's own thread: request, answer or timeout, then the
/// inter-frame gap; another device's exchange waits its turn.
public final class SerialLine: Sendable {
    public let path: String
    public let settings: SerialSettings
    public let gap: Duration
    private let worker: BlockingWorker
    private let port = PortBox()
    private let opener: @Sendable () throws -> any SerialIO

    public init(path: String, settings: SerialSettings, gap: Duration = .milliseconds(5)) {
        self.path = path
        self.settings = settings
        self.gap = gap
        self.worker = BlockingWorker(name: "serial \(path)")
        self.opener = { try SerialPort(path: path, settings: settings) }
    }

    /// A line whose far end is a recording played back (`ReplayPort`), for tests.
    public init(replaying replay: ReplayPort, name: String = "replay", settings: SerialSettings = SerialSettings(), gap: Duration = .zero) {
        self.path = name
        self.settings = settings
        self.gap = gap
        self.worker = BlockingWorker(name: "serial \(name)")
        self.opener = { replay }
    }

    deinit { worker.stop() }

    /// Opens the port if it is closed. Throws `noDevice` when it is not there.
    public func open() async throws {
        try await worker.run { [port, opener] in
            try port.value.withLock { p in
                if p == nil { p = try opener() }
            }
        }
    }

    public func close() async {
        _ = try? await worker.run { [port] in
            port.value.withLock { p in
                p?.close()
                p = nil
            }
            port.recorder.withLock { r in
                r?.finish()
                r = nil
            }
        }
    }

    /// Sends `request` and reads until `reader` has an answer or `timeout` passes.
    /// A port that hung up is closed and reported as `noDevice` (`port-hangup-error`).
    public func exchange<R: AnswerReader>(_ request: [UInt8], timeout: Duration, reader: R) async throws -> Exchange<R.Answer> {
        let (path, gap) = (path, gap)
        return try await worker.run { [port] in
            try port.value.withLock { p in
                guard let serial = p else {
                    throw DeviceError(.deviceNotReady, "\(path) is closed", reasons: [Reason.deviceAbsent], state: .noDevice)
                }
                var reader = reader
                let recorder = port.currentRecorder()
                defer { Thread.sleep(forTimeInterval: Double(gap.components.attoseconds) / 1e18 + Double(gap.components.seconds)) }
                do {
                    serial.discardInput()
                    recorder?.record(.tx, request)
                    try serial.write(request)
                    let deadline = ContinuousClock.now + timeout
                    while true {
                        let left = deadline - ContinuousClock.now
                        if left <= .zero { return .timeout(noise: reader.noise) }
                        switch try serial.read(timeout: left) {
                        case .bytes(let bytes):
                            recorder?.record(.rx, bytes)
                            if let answer = reader.consume(bytes) { return .answer(answer, noise: reader.noise) }
                        case .timeout:
                            return .timeout(noise: reader.noise)
                        case .hangup:
                            recorder?.record(.hangup, [])
                            throw DeviceError(.deviceNotReady, "\(path) hung up", reasons: ["port-hangup-error"], state: .noDevice)
                        }
                    }
                } catch let e as DeviceError where e.state == .noDevice {
                    serial.close()
                    p = nil
                    throw e
                }
            }
        }
    }
}

extension SerialLine {
    /// What a recording wrote, once it is stopped.
    public struct RecordingSummary: Sendable, Equatable {
        public var file: String
        public var chunks: Int
    }

    /// Starts writing every byte this line sends and receives to `file` (see
    /// `SerialRecording`) until `stopRecording` or `until`. A recording already
    /// running is stopped first.
    public func startRecording(file: String, until: ContinuousClock.Instant?) async throws {
        let header = ["halld serial recording", "port \(path) \(settings)", "started \(Date().ISO8601Format())"]
        try await worker.run { [port] in
            let recorder = try SerialRecorder(file: file, header: header, until: until)
            port.recorder.withLock { r in
                r?.finish()
                r = recorder
            }
        }
    }

    /// Stops the recording; nil when none was running.
    public func stopRecording() async -> RecordingSummary? {
        try? await worker.run { [port] in
            port.recorder.withLock { r -> RecordingSummary? in
                guard let recorder = r else { return nil }
                recorder.finish()
                r = nil
                return RecordingSummary(file: recorder.file, chunks: recorder.chunks)
            }
        }
    }

    /// The file being recorded to, if any.
    public func recordingFile() async -> String? {
        try? await worker.run { [port] in port.currentRecorder()?.file }
    }
}

/// The open port and the running recording, touched only by the line's worker
/// thread; the locks make that checkable.
private final class PortBox: Sendable {
    let value = Mutex<(any SerialIO)?>(nil)
    let recorder = Mutex<SerialRecorder?>(nil)

    /// The recorder, once its time is up finished and dropped.
    func currentRecorder() -> SerialRecorder? {
        recorder.withLock { r in
            if let current = r, current.expired {
                current.finish()
                r = nil
            }
            return r
        }
    }
}
