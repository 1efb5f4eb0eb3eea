import DeviceKit
import Foundation
import Synchronization
import WireProtocols

/// What the line's worker thread does with a port: `SerialPort` on hardware,
/// `ReplayPort` when a recording plays back in a test.
public protocol SerialIO: AnyObject {
    func read(timeout: Duration) throws -> SerialPort.ReadResult
    func write(_ bytes: [UInt8]) throws
    func discardInput()
    func close()
}

extension SerialPort: SerialIO {}

/// A serial session as a technician recorded it: each chunk with its time since
/// the start, its direction, and its bytes. The file is text, one chunk a line:
///
///     # halld serial recording
///     # port /dev/halld/bus-1 9600 8N1
///     0.000000 tx FF 68 02 02 68 01 00 01 16
///     0.014210 rx FF 68 02 02 68 01 00 01 16
///
/// Lines starting with `#` are comments; `hangup` marks the port hanging up.
public struct SerialRecording: Sendable, Equatable {
    public enum Direction: String, Sendable { case tx, rx, hangup }

    public struct Chunk: Sendable, Equatable {
        public var seconds: Double
        public var direction: Direction
        public var bytes: [UInt8]

        public init(seconds: Double, direction: Direction, bytes: [UInt8]) {
            self.seconds = seconds
            self.direction = direction
            self.bytes = bytes
        }

        var line: String {
            let time = String(format: "%.6f", seconds)
            return direction == .hangup ? "\(time) hangup" : "\(time) \(direction.rawValue) \(hex(bytes))"
        }
    }

    public var chunks: [Chunk]

    public init(chunks: [Chunk]) { self.chunks = chunks }

    /// A problem in a recording file: the line and what is wrong with it.
    public struct ParseError: Error, Sendable, CustomStringConvertible {
        public var line: Int
        public var message: String
        public var description: String { "line \(line): \(message)" }
    }

    public init(text: String) throws(ParseError) {
        var chunks: [Chunk] = []
        for (i, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") { continue }
            let words = line.split(separator: " ", maxSplits: 2).map(String.init)
            guard words.count >= 2, let seconds = Double(words[0]), seconds >= 0 else {
                throw ParseError(line: i + 1, message: "expected `SECONDS tx|rx HEX` or `SECONDS hangup`, found \"\(line.prefix(60))\"")
            }
            guard let direction = Direction(rawValue: words[1]) else {
                throw ParseError(line: i + 1, message: "direction is tx, rx or hangup, found \"\(words[1])\"")
            }
            var bytes: [UInt8] = []
            if direction != .hangup {
                guard words.count == 3, let b = parseHex(words[2]), !b.isEmpty else {
                    throw ParseError(line: i + 1, message: "expected bytes in hex after \(direction.rawValue)")
                }
                bytes = b
            }
            chunks.append(Chunk(seconds: seconds, direction: direction, bytes: bytes))
        }
        self.chunks = chunks
    }

    public static func load(file: String) throws -> SerialRecording {
        let text = try String(contentsOfFile: file, encoding: .utf8)
        return try SerialRecording(text: text)
    }

    /// Each request with the answer bytes that followed it, in order.
    var exchanges: [(request: [UInt8], answer: [[UInt8]])] {
        var out: [(request: [UInt8], answer: [[UInt8]])] = []
        for chunk in chunks {
            switch chunk.direction {
            case .tx: out.append((chunk.bytes, []))
            case .rx: if !out.isEmpty { out[out.count - 1].answer.append(chunk.bytes) }
            case .hangup: break
            }
        }
        return out
    }
}

/// Appends a line's traffic to a recording file. Used from the line's worker thread only.
final class SerialRecorder: @unchecked Sendable {
    // @unchecked: written only by the line's worker thread.
    let file: String
    let until: ContinuousClock.Instant?
    private let handle: FileHandle
    private let start = ContinuousClock.now
    private(set) var chunks = 0

    init(file: String, header: [String], until: ContinuousClock.Instant?) throws {
        guard FileManager.default.createFile(atPath: file, contents: Data((header.map { "# \($0)" }.joined(separator: "\n") + "\n").utf8)),
            let handle = FileHandle(forWritingAtPath: file)
        else {
            throw DeviceError(.hardwareError, "cannot create the recording \(file)")
        }
        handle.seekToEndOfFile()
        self.file = file
        self.until = until
        self.handle = handle
    }

    var expired: Bool { until.map { ContinuousClock.now >= $0 } ?? false }

    func record(_ direction: SerialRecording.Direction, _ bytes: [UInt8]) {
        guard direction == .hangup || !bytes.isEmpty else { return }
        let elapsed = ContinuousClock.now - start
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        handle.write(Data((SerialRecording.Chunk(seconds: seconds, direction: direction, bytes: bytes).line + "\n").utf8))
        chunks += 1
    }

    func finish() { try? handle.close() }
}

/// Plays a recording back as the far end of a port, so a problem seen in a hall
/// becomes a test. Each request the driver writes is matched with the next
/// recorded request of the same bytes and gets the answer recorded for it; timing
/// differences (a poll more or less before a command) do not matter:
/// - the next recorded request is the one written: its answer plays, and the replay moves on;
/// - the request was seen before but is not next (an extra poll): it gets its usual
///   answer (the one recorded most often for it), and the replay stays where it is;
/// - otherwise the replay skips forward to the next recorded request of those bytes
///   (a poll fewer), or, when there is none, the request gets no answer.
public final class ReplayPort: SerialIO, Sendable {
    private struct State {
        var cursor = 0
        var pending: [[UInt8]] = []
        var played = 0, repeated = 0, skipped = 0, unanswered = 0
    }

    private let exchanges: [(request: [UInt8], answer: [[UInt8]])]
    private let state = Mutex(State())

    public init(_ recording: SerialRecording) {
        exchanges = recording.exchanges
    }

    /// Requests answered in order, answered as usual out of order, recorded requests skipped, and requests left unanswered.
    public var counts: (played: Int, repeated: Int, skipped: Int, unanswered: Int) {
        state.withLock { ($0.played, $0.repeated, $0.skipped, $0.unanswered) }
    }

    /// Whether every recorded exchange has been played.
    public var finished: Bool { state.withLock { $0.cursor >= exchanges.count } }

    public func write(_ bytes: [UInt8]) throws {
        let exchanges = exchanges
        state.withLock { s in
            s.pending = []
            if s.cursor < exchanges.count, exchanges[s.cursor].request == bytes {
                s.pending = exchanges[s.cursor].answer
                s.cursor += 1
                s.played += 1
                return
            }
            let earlier = exchanges[..<s.cursor].filter { $0.request == bytes }.map { $0.answer.flatMap { $0 } }
            if !earlier.isEmpty {
                let usual = Dictionary(earlier.map { ($0, 1) }, uniquingKeysWith: +).max { $0.value < $1.value }!.key
                s.pending = usual.isEmpty ? [] : [usual]
                s.repeated += 1
                return
            }
            if let next = exchanges[s.cursor...].firstIndex(where: { $0.request == bytes }) {
                s.pending = exchanges[next].answer
                s.skipped += next - s.cursor
                s.played += 1
                s.cursor = next + 1
                return
            }
            s.unanswered += 1
        }
    }

    public func read(timeout: Duration) throws -> SerialPort.ReadResult {
        state.withLock { s in s.pending.isEmpty ? .timeout : .bytes(s.pending.removeFirst()) }
    }

    public func discardInput() {}
    public func close() {}
}
