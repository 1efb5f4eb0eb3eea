import Foundation
import UnixSockets

#if canImport(Glibc)
import Glibc
#endif

/// A blocking HTTP/1.1 connection over a Unix stream socket. Used only on threads
/// of its own (see `HallClient`), never on the concurrency pool.
// @unchecked Sendable: one thread owns reads and writes; another may only call
// `interrupt()`, which is a single shutdown(2) on the descriptor.
final class UnixConnection: @unchecked Sendable {
    private let fd: Int32
    private var buffer = [UInt8]()
    private var eof = false

    init(path: String, receiveTimeout: TimeInterval?) throws {
        do {
            fd = try UnixSocket.connect(to: path)
        } catch where error.operation == "connect" {
            throw HallClientError("cannot reach halld at \(path): \(error.reason) (is halld running? set --socket or HALLD_SOCKET)")
        } catch {
            throw HallClientError("cannot reach halld: \(error)")
        }
        if let receiveTimeout {
            var tv = timeval(tv_sec: Int(receiveTimeout), tv_usec: 0)
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        }
    }

    deinit { close(fd) }

    /// Unblocks a thread waiting in `read` (used to stop an event stream).
    func interrupt() { shutdown(fd, Int32(SHUT_RDWR)) }

    func write(_ data: Data) throws {
        try data.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let n = send(fd, raw.baseAddress! + offset, raw.count - offset, Int32(MSG_NOSIGNAL))
                if n < 0 {
                    if errno == EINTR { continue }
                    throw HallClientError("writing to halld failed: \(String(cString: strerror(errno)))")
                }
                offset += n
            }
        }
    }

    /// Reads more bytes into the buffer; false at end of stream.
    private func fill() throws -> Bool {
        if eof { return false }
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = recv(fd, &chunk, chunk.count, 0)
            if n > 0 {
                buffer.append(contentsOf: chunk[0..<n])
                return true
            }
            if n == 0 { eof = true; return false }
            if errno == EINTR { continue }
            if errno == EAGAIN || errno == EWOULDBLOCK { throw HallClientError("halld did not answer in time") }
            throw HallClientError("reading from halld failed: \(String(cString: strerror(errno)))")
        }
    }

    private func readLine() throws -> String? {
        while true {
            if let i = buffer.firstIndex(of: 0x0A) {
                var line = Array(buffer[..<i])
                buffer.removeFirst(i + 1)
                if line.last == 0x0D { line.removeLast() }
                return String(decoding: line, as: UTF8.self)
            }
            if try !fill() { return nil }
        }
    }

    private func readExactly(_ count: Int) throws -> [UInt8] {
        while buffer.count < count {
            if try !fill() { throw HallClientError("halld closed the connection mid-answer") }
        }
        let out = Array(buffer[..<count])
        buffer.removeFirst(count)
        return out
    }

    /// Status and headers (names lowercased).
    func readHead() throws -> (status: Int, headers: [String: String]) {
        guard let statusLine = try readLine() else { throw HallClientError("halld closed the connection without answering") }
        let parts = statusLine.split(separator: " ", maxSplits: 2)
        guard parts.count >= 2, parts[0].hasPrefix("HTTP/1."), let status = Int(parts[1]) else {
            throw HallClientError("not an HTTP answer: \(statusLine.prefix(80))")
        }
        var headers: [String: String] = [:]
        while let line = try readLine(), !line.isEmpty {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        return (status, headers)
    }

    /// Reads the body, calling `chunk` with each piece as it arrives; returns at the end.
    func readBody(_ headers: [String: String], chunk: (Data) throws -> Void) throws {
        if headers["transfer-encoding"]?.lowercased().contains("chunked") == true {
            while true {
                guard let sizeLine = try readLine() else { throw HallClientError("halld closed the connection mid-answer") }
                guard let size = Int(sizeLine.split(separator: ";").first ?? "", radix: 16) else {
                    throw HallClientError("bad chunk size '\(sizeLine.prefix(20))'")
                }
                if size == 0 {
                    while let trailer = try readLine(), !trailer.isEmpty {}
                    return
                }
                guard size >= 0, size <= 64 << 20 else { throw HallClientError("chunk size \(size) out of range") }
                try chunk(Data(try readExactly(size)))
                guard try readExactly(2) == [0x0D, 0x0A] else { throw HallClientError("a chunk of \(size) bytes does not end with CRLF") }
            }
        } else if let length = headers["content-length"].flatMap(Int.init) {
            try chunk(Data(try readExactly(length)))
        } else {
            while try fill() {}
            try chunk(Data(buffer))
            buffer.removeAll()
        }
    }
}
