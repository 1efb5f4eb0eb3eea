import Foundation
import Logging

#if canImport(Glibc)
import Glibc
#endif

/// Where halld's log goes: journald's native protocol under systemd, otherwise text
/// on standard error, or JSON lines for log collectors.
public enum LogFormat: String, CaseIterable, Sendable {
    /// journald when standard error is the journal's stream (`JOURNAL_STREAM`), text otherwise.
    case auto
    case text
    case json
    case journal

    /// journald's socket for native messages.
    public static let journalSocket = "/run/systemd/journal/socket"

    /// What `auto` means here: `journal` when `JOURNAL_STREAM` names the device and
    /// inode of this process's standard error (systemd sets it for services whose
    /// output goes to the journal), `text` otherwise.
    public static func resolve(_ format: LogFormat, environment: [String: String] = ProcessInfo.processInfo.environment) -> LogFormat {
        guard format == .auto else { return format }
        guard let stream = environment["JOURNAL_STREAM"] else { return .text }
        let parts = stream.split(separator: ":")
        var st = stat()
        guard parts.count == 2, let dev = UInt64(parts[0]), let ino = UInt64(parts[1]), fstat(STDERR_FILENO, &st) == 0 else { return .text }
        return UInt64(st.st_dev) == dev && UInt64(st.st_ino) == ino ? .journal : .text
    }

    /// The handler factory for `LoggingSystem.bootstrap`. `journal` falls back to text
    /// when the journal's socket cannot be opened.
    public static func factory(_ format: LogFormat, level: Logger.Level, journalSocket: String = journalSocket) -> @Sendable (String) -> any LogHandler {
        switch resolve(format) {
        case .journal:
            if let journal = JournalConnection(path: journalSocket) {
                return { label in JournalLogHandler(label: label, connection: journal, logLevel: level) }
            }
            return textFactory(level)
        case .json:
            return { label in JSONLinesLogHandler(label: label, logLevel: level) }
        case .text, .auto:
            return textFactory(level)
        }
    }

    private static func textFactory(_ level: Logger.Level) -> @Sendable (String) -> any LogHandler {
        { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
    }
}

/// journald's socket (or a stand-in). Log calls only queue their record; a thread
/// of its own sends them in order, waiting while the journal's queue is full, so a
/// burst of records is neither lost nor a stall of the cooperative pool. Past
/// `capacity` queued records (a journal that stopped reading) new ones are counted
/// as dropped, and the count is sent once the journal reads again.
public final class JournalConnection: Sendable {
    let path: String
    private let queue: RecordQueue

    public init?(path: String, capacity: Int = 10_000) {
        guard let socket = UnixDatagram(), path.utf8.count < 108 else { return nil }
        self.path = path
        let queue = RecordQueue(capacity: capacity)
        self.queue = queue
        let thread = Thread {
            while let (record, dropped) = queue.next() {
                if dropped > 0 {
                    let note = JournalLogHandler.datagram(
                        .warning, "\(dropped) log records were dropped: the journal did not read", metadata: [:], label: "halld", source: "HallDaemon",
                        file: #fileID, line: #line)
                    socket.send(note, to: path, wait: true)
                }
                socket.send(record, to: path, wait: true)
            }
        }
        thread.name = "journal"
        thread.start()
    }

    deinit { queue.close() }

    func send(_ datagram: [UInt8]) { queue.add(datagram) }

    /// The records waiting for the journal thread. @unchecked Sendable: every field is
    /// touched only with `condition` locked.
    private final class RecordQueue: @unchecked Sendable {
        private let condition = NSCondition()
        private var records: [[UInt8]] = []
        private var head = 0
        private var dropped = 0
        private var closed = false
        let capacity: Int

        init(capacity: Int) { self.capacity = capacity }

        func add(_ record: [UInt8]) {
            condition.lock()
            defer { condition.unlock() }
            if records.count - head >= capacity {
                dropped += 1
                return
            }
            records.append(record)
            condition.signal()
        }

        /// The next record and the records dropped before it; nil once closed.
        func next() -> ([UInt8], Int)? {
            condition.lock()
            defer { condition.unlock() }
            while head == records.count && !closed { condition.wait() }
            guard head < records.count else { return nil }
            let record = records[head]
            head += 1
            if head > 1024 && head * 2 > records.count {
                records.removeFirst(head)
                head = 0
            }
            defer { dropped = 0 }
            return (record, dropped)
        }

        func close() {
            condition.lock()
            closed = true
            condition.signal()
            condition.unlock()
        }
    }
}

/// journald's native protocol: MESSAGE, PRIORITY (syslog), SYSLOG_IDENTIFIER, and the
/// record's metadata as fields: `device.id`/`device` as DEVICE, `ticket` as TICKET,
/// `window` as WINDOW, any other key upper-cased (`driver` as DRIVER), so
/// `journalctl DEVICE=keypad-1` finds one device's lines.
public struct JournalLogHandler: MetadataKeepingLogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level
    let label: String
    let connection: JournalConnection

    public init(label: String, connection: JournalConnection, logLevel: Logger.Level) {
        self.label = label
        self.connection = connection
        self.logLevel = logLevel
    }


    public func log(event: LogEvent) {
        let all = metadata(with: event)
        connection.send(Self.datagram(event.level, "\(event.message)", metadata: all, label: label, source: event.source, file: event.file, line: event.line))
    }

    /// syslog priorities as journald reads them.
    static func priority(_ level: Logger.Level) -> Int {
        switch level {
        case .trace, .debug: 7
        case .info: 6
        case .notice: 5
        case .warning: 4
        case .error: 3
        case .critical: 2
        }
    }

    /// A journald field name for a metadata key: A–Z, 0–9 and `_`, not starting with `_`.
    static func fieldName(_ key: String) -> String? {
        switch key {
        case "device.id", "device": return "DEVICE"
        case "ticket": return "TICKET"
        case "window": return "WINDOW"
        default:
            var name = String(key.uppercased().map { $0.isASCII && ($0.isLetter || $0.isNumber) ? $0 : "_" })
            while name.hasPrefix("_") { name.removeFirst() }
            guard let first = name.first, first.isLetter, name.count <= 64 else { return nil }
            return name
        }
    }

    static func datagram(
        _ level: Logger.Level, _ message: String, metadata: Logger.Metadata, label: String, source: String, file: String, line: UInt
    ) -> [UInt8] {
        var out: [UInt8] = []
        func field(_ name: String, _ value: String) {
            let bytes = Array(value.utf8.prefix(64 * 1024))
            if bytes.contains(0x0A) {
                // A value with a newline: the name, a newline, its length (64-bit little endian), the bytes.
                out += Array(name.utf8) + [0x0A]
                withUnsafeBytes(of: UInt64(bytes.count).littleEndian) { out += $0 }
                out += bytes + [0x0A]
            } else {
                out += Array("\(name)=".utf8) + bytes + [0x0A]
            }
        }
        field("MESSAGE", message)
        field("PRIORITY", String(priority(level)))
        field("SYSLOG_IDENTIFIER", "halld")
        field("HALLD_LOGGER", label)
        field("CODE_FILE", file)
        field("CODE_LINE", String(line))
        for (key, value) in metadata.sorted(by: { $0.key < $1.key }) {
            if let name = fieldName(key) { field(name, "\(value)") }
        }
        return out
    }
}

/// One JSON object a line on standard error: time, level, logger, message and metadata.
public struct JSONLinesLogHandler: MetadataKeepingLogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level
    let label: String
    let write: @Sendable (String) -> Void

    public init(label: String, logLevel: Logger.Level, write: @escaping @Sendable (String) -> Void = { FileHandle.standardError.write(Data($0.utf8)) }) {
        self.label = label
        self.logLevel = logLevel
        self.write = write
    }


    public func log(event: LogEvent) {
        let all = metadata(with: event)
        var object: [String: String] = ["time": LogTime.iso8601Now(), "level": event.level.rawValue, "logger": label, "message": "\(event.message)"]
        for (key, value) in all where object[key] == nil { object[key] = "\(value)" }
        guard let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]) else { return }
        write(String(decoding: data, as: UTF8.self) + "\n")
    }
}

/// A handler that keeps its logger's metadata and adds each record's to it.
public protocol MetadataKeepingLogHandler: LogHandler {}

extension MetadataKeepingLogHandler {
    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    /// The logger's metadata with the record's own on top.
    func metadata(with event: LogEvent) -> Logger.Metadata {
        metadata.merging(event.metadata ?? [:]) { $1 }
    }
}

enum LogTime {
    static func iso8601Now() -> String {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return f.string(from: Date())
    }
}
