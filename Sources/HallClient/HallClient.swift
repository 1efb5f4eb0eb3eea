import Foundation
import HallAPIModels
import NIOCore

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

/// The client of halld's API on its Unix socket, for hallctl and tests, on SwiftNIO:
/// nothing waits on a thread, and a call that outlives `timeout` fails.
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
        let socketPath = socketPath
        var headers = headers
        if let contentType { headers["Content-Type"] = contentType }
        let sent = headers
        return try await within(timeout, "halld did not answer \(method) \(path) within \(String(format: "%g", timeout)) s") {
            var head = HTTPExchange.Head(status: 0, headers: [:])
            var data = Data()
            try await HTTPExchange.run(
                socketPath: socketPath, method: method, path: path, body: body, headers: sent,
                onHead: { head = $0 }, onBody: { data.append(contentsOf: $0.readableBytesView) })
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

    /// The event stream from `path` (`/v1/events?since=…`). Ends when halld ends it;
    /// ending the iteration closes the connection.
    public func events(_ path: String = "/v1/events", headers: [String: String] = [:]) -> AsyncThrowingStream<SSEMessage, any Error> {
        let socketPath = socketPath
        let (stream, continuation) = AsyncThrowingStream.makeStream(of: SSEMessage.self)
        let task = Task {
            do {
                var head = HTTPExchange.Head(status: 0, headers: [:])
                var errorBody = Data()
                var parser = SSEParser()
                try await HTTPExchange.run(
                    socketPath: socketPath, method: "GET", path: path, body: nil, headers: headers.merging(["Accept": "text/event-stream"]) { a, _ in a },
                    onHead: { head = $0 },
                    onBody: { buffer in
                        guard head.status == 200 else {
                            errorBody.append(contentsOf: buffer.readableBytesView)
                            return
                        }
                        for message in parser.feed(Data(buffer.readableBytesView)) { continuation.yield(message) }
                    })
                if head.status != 200 {
                    _ = try Self.decode(HTTPReply(status: head.status, headers: head.headers, body: errorBody), as: JSONValue.self)
                    throw HallClientError("HTTP \(head.status)")
                }
                continuation.finish()
            } catch {
                continuation.finish(throwing: error)
            }
        }
        continuation.onTermination = { _ in task.cancel() }
        return stream
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
