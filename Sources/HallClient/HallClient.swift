import Foundation
import HallAPIModels

/// A client failure: a connection problem, or the API's error answer.
public struct HallClientError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public var status: Int?
    public var error: ErrorResponse.Body?

    public init(_ message: String, status: Int? = nil, error: ErrorResponse.Body? = nil) {
        self.message = message
        self.status = status
        self.error = error
    }

    public var description: String { message }
}

/// An HTTP answer.
public struct HTTPReply: Sendable {
    public var status: Int
    /// Header names lowercased.
    public var headers: [String: String]
    public var body: Data

    public var text: String { String(decoding: body, as: UTF8.self) }

    /// The API's error body, when the answer is one.
    public var apiError: ErrorResponse.Body? { try? JSONDecoder().decode(ErrorResponse.self, from: body).error }
}

/// One Server-Sent Event.
public struct SSEMessage: Sendable, Equatable {
    public var id: String?
    public var event: String
    public var data: String

    public init(id: String?, event: String, data: String) {
        self.id = id
        self.event = event
        self.data = data
    }
}

/// The client of halld's API on its Unix socket, for hallctl and tests. Each call
/// runs its blocking socket I/O on a thread of its own.
public struct HallClient: Sendable {
    public let socketPath: String
    public var timeout: TimeInterval = 120

    public init(socketPath: String) {
        self.socketPath = socketPath
    }

    /// `HALLD_SOCKET`, else the packaged default.
    public static func defaultSocket(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        environment["HALLD_SOCKET"].flatMap { $0.isEmpty ? nil : $0 } ?? "/run/halld/halld.sock"
    }

    public func send(_ method: String, _ path: String, body: Data? = nil, contentType: String? = nil, headers: [String: String] = [:]) async throws -> HTTPReply {
        let (socketPath, timeout) = (socketPath, timeout)
        return try await onThread {
            let connection = try UnixConnection(path: socketPath, receiveTimeout: timeout)
            try connection.write(Self.request(method, path, body: body, contentType: contentType, headers: headers))
            let head = try connection.readHead()
            var data = Data()
            try connection.readBody(head.headers) { data.append($0) }
            return HTTPReply(status: head.status, headers: head.headers, body: data)
        }
    }

    /// Sends and decodes a 2xx answer; other answers throw with the API's message.
    public func call<T: Decodable>(_ method: String, _ path: String, json: (some Encodable)? = Optional<String>.none, as type: T.Type = T.self) async throws -> T {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        let body = try json.map { try encoder.encode($0) }
        let reply = try await send(method, path, body: body, contentType: body == nil ? nil : "application/json")
        return try Self.decode(reply)
    }

    public static func decode<T: Decodable>(_ reply: HTTPReply, as type: T.Type = T.self) throws -> T {
        guard (200..<300).contains(reply.status) else {
            if let e = reply.apiError {
                var message = e.message
                if let reasons = e.reasons, !reasons.isEmpty { message += " [\(reasons.joined(separator: ", "))]" }
                throw HallClientError("\(e.code.rawValue): \(message)", status: reply.status, error: e)
            }
            throw HallClientError("HTTP \(reply.status): \(reply.text.prefix(200))", status: reply.status)
        }
        do {
            let decoder = JSONDecoder()
            decoder.dateDecodingStrategy = .iso8601
            return try decoder.decode(T.self, from: reply.body)
        } catch {
            throw HallClientError("unexpected answer from halld: \(error)", status: reply.status)
        }
    }

    /// The event stream from `path` (`/v1/events?since=…`). Ends when halld ends it.
    public func events(_ path: String = "/v1/events", headers: [String: String] = [:]) -> AsyncThrowingStream<SSEMessage, any Error> {
        let socketPath = socketPath
        let (stream, continuation) = AsyncThrowingStream.makeStream(of: SSEMessage.self)
        let thread = Thread {
            do {
                let connection = try UnixConnection(path: socketPath, receiveTimeout: nil)
                continuation.onTermination = { _ in connection.interrupt() }
                try connection.write(Self.request("GET", path, body: nil, contentType: nil, headers: headers.merging(["Accept": "text/event-stream"]) { a, _ in a }))
                let head = try connection.readHead()
                guard head.status == 200 else {
                    var body = Data()
                    try connection.readBody(head.headers) { body.append($0) }
                    _ = try Self.decode(HTTPReply(status: head.status, headers: head.headers, body: body), as: JSONValue.self)
                    throw HallClientError("HTTP \(head.status)")
                }
                var parser = SSEParser()
                try connection.readBody(head.headers) { chunk in
                    for message in parser.feed(chunk) { continuation.yield(message) }
                }
                continuation.finish()
            } catch {
                continuation.finish(throwing: error)
            }
        }
        thread.start()
        return stream
    }

    static func request(_ method: String, _ path: String, body: Data?, contentType: String?, headers: [String: String]) -> Data {
        var head = "\(method) \(path) HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nUser-Agent: hallctl\r\n"
        if let contentType { head += "Content-Type: \(contentType)\r\n" }
        for (k, v) in headers.sorted(by: { $0.key < $1.key }) { head += "\(k): \(v)\r\n" }
        head += "Content-Length: \(body?.count ?? 0)\r\n\r\n"
        var data = Data(head.utf8)
        if let body { data.append(body) }
        return data
    }

    private func onThread<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            Thread { continuation.resume(with: Result { try work() }) }.start()
        }
    }
}

/// Splits an event-stream body into messages; comments (keep-alives) are skipped.
/// Bytes are kept until a blank line ends a message, and only whole messages are
/// decoded: a character split across two reads (Chinese text is three bytes a
/// character) arrives whole. Lines may end with LF, CRLF or CR.
public struct SSEParser: Sendable {
    private var pending: [UInt8] = []

    public init() {}

    public mutating func feed(_ data: Data) -> [SSEMessage] {
        pending += data
        var messages: [SSEMessage] = []
        var start = 0
        var lineStart = 0
        var lines: [ArraySlice<UInt8>] = []
        var i = 0
        while i < pending.count {
            let byte = pending[i]
            guard byte == 0x0A || byte == 0x0D else {
                i += 1
                continue
            }
            // CR LF is one line end; a lone CR at the end of what arrived may still get its LF.
            if byte == 0x0D && i + 1 == pending.count { break }
            let end = i
            i += (byte == 0x0D && pending[i + 1] == 0x0A) ? 2 : 1
            if end == lineStart {
                // A blank line: the message is complete.
                if let message = Self.message(lines) { messages.append(message) }
                lines = []
                start = i
            } else {
                lines.append(pending[lineStart..<end])
            }
            lineStart = i
        }
        pending.removeFirst(start)
        return messages
    }

    private static func message(_ lines: [ArraySlice<UInt8>]) -> SSEMessage? {
        var id: String?, event = "message", data: [String] = []
        for raw in lines {
            let line = String(decoding: raw, as: UTF8.self)
            if line.hasPrefix(":") { continue }
            let (field, value) = line.firstIndex(of: ":").map { (String(line[..<$0]), String(line[line.index(after: $0)...].drop { $0 == " " })) } ?? (line, "")
            switch field {
            case "id": id = value
            case "event": event = value
            case "data": data.append(value)
            default: break
            }
        }
        guard !data.isEmpty || id != nil else { return nil }
        return SSEMessage(id: id, event: event, data: data.joined(separator: "\n"))
    }
}
