import ChildProcess
import Foundation
import Logging
import Synchronization
import Testing

@testable import HallDaemon

#if canImport(Glibc)
import Glibc
#endif

/// journald's native datagrams, read back: `KEY=value` lines, and `KEY\n<u64 le length><bytes>\n` for values with newlines.
func journalFields(_ datagram: [UInt8]) -> [String: String] {
    var fields: [String: String] = [:]
    var i = 0
    while i < datagram.count {
        guard let end = datagram[i...].firstIndex(of: 0x0A) else { break }
        let line = datagram[i..<end]
        if let eq = line.firstIndex(of: UInt8(ascii: "=")) {
            fields[String(decoding: line[..<eq], as: UTF8.self)] = String(decoding: line[(eq + 1)...], as: UTF8.self)
            i = end + 1
        } else {
            let name = String(decoding: line, as: UTF8.self)
            let lengthStart = end + 1
            guard lengthStart + 8 <= datagram.count else { break }
            let length = datagram[lengthStart..<(lengthStart + 8)].enumerated().reduce(0) { $0 | (Int($1.element) << (8 * $1.offset)) }
            let valueStart = lengthStart + 8
            fields[name] = String(decoding: datagram[valueStart..<(valueStart + length)], as: UTF8.self)
            i = valueStart + length + 1
        }
    }
    return fields
}

@Suite("log output", .timeLimit(.minutes(3)))
struct LogOutputTests {
    /// The datagrams that arrive on `sink` within `seconds`, until `enough` holds.
    static func collect(_ sink: NotifySocket, seconds: Double, until enough: @escaping @Sendable ([[String: String]]) -> Bool) async throws -> [[String: String]] {
        try await onThread { () -> [[String: String]] in
            var got: [[String: String]] = []
            let until = Date().addingTimeInterval(seconds)
            while Date() < until && !enough(got) {
                var buffer = [UInt8](repeating: 0, count: 256 * 1024)
                let n = recv(sink.fd, &buffer, buffer.count, 0)
                if n > 0 { got.append(journalFields(Array(buffer[0..<n]))) }
            }
            return got
        }
    }

    @Test("journald's native protocol: MESSAGE, PRIORITY, SYSLOG_IDENTIFIER and the device, ticket and window as DEVICE, TICKET, WINDOW; a message with a newline is sent in the binary form")
    func journalFieldsSent() async throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let sink = try NotifySocket(path: dir + "/journal.sock")
        let connection = try #require(JournalConnection(path: sink.path))
        var logger = Logger(label: "halld") { JournalLogHandler(label: $0, connection: connection, logLevel: .info) }
        logger[metadataKey: "device.id"] = "keypad-1"
        logger[metadataKey: "driver"] = "hallbus"
        logger.warning("no key pressed", metadata: ["ticket": "T-20261130-A012", "window": "3"])
        logger.debug("below the level: not sent")
        logger.error("two lines\nsecond line")
        let got = try await Self.collect(sink, seconds: 5) { $0.count >= 2 }
        #expect(got.count == 2, "\(got)")
        let first = try #require(got.first)
        #expect(first["MESSAGE"] == "no key pressed" && first["PRIORITY"] == "4" && first["SYSLOG_IDENTIFIER"] == "halld", "\(first)")
        #expect(first["DEVICE"] == "keypad-1" && first["TICKET"] == "T-20261130-A012" && first["WINDOW"] == "3" && first["DRIVER"] == "hallbus", "\(first)")
        #expect(got.last?["MESSAGE"] == "two lines\nsecond line" && got.last?["PRIORITY"] == "3", "\(got.last ?? [:])")
    }

    @Test("a burst of records larger than the socket's queue reaches the journal whole and in order (the sender waits on a thread of its own)")
    func burst() async throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let sink = try NotifySocket(path: dir + "/journal.sock")
        let connection = try #require(JournalConnection(path: sink.path))
        let logger = Logger(label: "halld") { JournalLogHandler(label: $0, connection: connection, logLevel: .info) }
        for i in 0..<300 { logger.info("record \(i)") }
        let got = try await Self.collect(sink, seconds: 15) { $0.count >= 300 }
        #expect(got.map { $0["MESSAGE"] ?? "" } == (0..<300).map { "record \($0)" }, "\(got.count) of 300 arrived")
    }

    @Test("halld --log-format journal sends its log to the journal socket, each device's lines with DEVICE")
    func halldToJournal() async throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let sink = try NotifySocket(path: dir + "/journal.sock")
        try writeSimulatedConfigFile(dir + "/halld.toml", socket: dir + "/h.sock", state: dir + "/state")
        let halld = try await Child.start(
            [builtExecutable("halld"), "--config", dir + "/halld.toml", "--log-format", "journal", "--log-level", "info"],
            environment: ["HALLD_JOURNAL_SOCKET": sink.path])
        let got = try await Self.collect(sink, seconds: 20) { records in
            records.contains { $0["MESSAGE"]?.hasPrefix("halld ") == true } && records.contains { $0["DEVICE"] == "display-1" }
        }
        let status = await halld.stop()
        #expect(status == 0, "halld's exit status: \(halld.output)")
        #expect(got.contains { $0["MESSAGE"]?.hasPrefix("halld ") == true && $0["MESSAGE"]?.contains("listening on") == true && $0["PRIORITY"] == "5" }, "\(got.map { $0["MESSAGE"] ?? "" })")
        #expect(got.contains { $0["DEVICE"] == "display-1" && $0["SYSLOG_IDENTIFIER"] == "halld" }, "\(got.prefix(5))")
        #expect(!halld.output.contains("listening on"), "nothing on standard error when the journal takes the log: \(halld.output)")
    }

    @Test("auto is journald only when JOURNAL_STREAM names this process's standard error; text otherwise")
    func autoFormat() {
        var st = stat()
        _ = fstat(STDERR_FILENO, &st)
        #expect(LogFormat.resolve(.auto, environment: ["JOURNAL_STREAM": "\(st.st_dev):\(st.st_ino)"]) == .journal)
        #expect(LogFormat.resolve(.auto, environment: ["JOURNAL_STREAM": "\(st.st_dev):\(st.st_ino + 1)"]) == .text)
        #expect(LogFormat.resolve(.auto, environment: [:]) == .text)
        #expect(LogFormat.resolve(.json, environment: ["JOURNAL_STREAM": "\(st.st_dev):\(st.st_ino)"]) == .json)
    }

    @Test("--log-format json writes one JSON object a line with level, message and metadata")
    func jsonLines() throws {
        let lines = Mutex<[String]>([])
        var logger = Logger(label: "halld") { JSONLinesLogHandler(label: $0, logLevel: .info, write: { line in lines.withLock { $0.append(line) } }) }
        logger[metadataKey: "device.id"] = "printer-1"
        logger.notice("paper out \"now\"", metadata: ["ticket": "A012"])
        let line = try #require(lines.withLock { $0.first })
        #expect(line.hasSuffix("\n") && !line.dropLast().contains("\n"))
        let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: String])
        #expect(object["level"] == "notice" && object["message"] == "paper out \"now\"" && object["device.id"] == "printer-1" && object["ticket"] == "A012", "\(object)")
        #expect(object["time"]?.isEmpty == false && object["logger"] == "halld")
    }
}
