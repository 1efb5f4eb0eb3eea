import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix

/// One HTTP/1.1 exchange with halld over its Unix socket, on SwiftNIO's client
/// bootstrap: the request goes out, the answer's head and body parts come back as
/// they arrive. The connection is closed at the end (`Connection: close`).
enum HTTPExchange {
    typealias Channel = NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>

    /// What the body of an answer is handed to, piece by piece.
    struct Head: Sendable {
        var status: Int
        /// Names lowercased.
        var headers: [String: String]
    }

    /// Connects to `socketPath`; a missing socket or a daemon that is not there is
    /// named with the path and what to do.
    static func connect(_ socketPath: String) async throws -> Channel {
        do {
            return try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connectTimeout(.seconds(10))
                .connect(unixDomainSocketPath: socketPath) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHTTPClientHandlers()
                        return try Channel(wrappingChannelSynchronously: channel)
                    }
                }
        } catch {
            throw HallClientError("cannot reach halld at \(socketPath): \(reason(error)) (is halld running? set --socket or HALLD_SOCKET)")
        }
    }

    /// Sends one request and hands `onHead` the answer's head, then `onBody` each
    /// piece of its body; returns when the answer is complete.
    static func run(
        socketPath: String, method: String, path: String, body: Data?, headers: [String: String],
        onHead: (Head) async throws -> Void, onBody: (ByteBuffer) async throws -> Void
    ) async throws {
        let channel = try await connect(socketPath)
        try await channel.executeThenClose { inbound, outbound in
            var head = HTTPRequestHead(version: .http1_1, method: HTTPMethod(rawValue: method), uri: path)
            head.headers.add(name: "Host", value: "localhost")
            head.headers.add(name: "Connection", value: "close")
            head.headers.add(name: "User-Agent", value: "hallctl")
            for (k, v) in headers.sorted(by: { $0.key < $1.key }) { head.headers.add(name: k, value: v) }
            head.headers.add(name: "Content-Length", value: String(body?.count ?? 0))
            var parts: [HTTPClientRequestPart] = [.head(head)]
            if let body, !body.isEmpty { parts.append(.body(.byteBuffer(ByteBuffer(bytes: body)))) }
            parts.append(.end(nil))
            // halld may answer (and close) before the whole request is written, e.g. a
            // body too large: its answer is still read, and the write error is only
            // reported when no answer came.
            var writeError: (any Error)?
            do { try await outbound.write(contentsOf: parts) } catch { writeError = error }
            var sawHead = false
            do {
                for try await part in inbound {
                    switch part {
                    case .head(let h):
                        sawHead = true
                        var names: [String: String] = [:]
                        for (name, value) in h.headers { names[name.lowercased()] = value }
                        try await onHead(Head(status: Int(h.status.code), headers: names))
                    case .body(let buffer):
                        try await onBody(buffer)
                    case .end:
                        return
                    }
                }
            } catch let error as HallClientError {
                throw error
            } catch is CancellationError {
                throw CancellationError()
            } catch {
                throw HallClientError("reading from halld failed: \(reason(error))")
            }
            if let writeError, !sawHead { throw HallClientError("sending to halld failed: \(reason(writeError))") }
            throw HallClientError(sawHead ? "halld closed the connection mid-answer" : "halld closed the connection without answering")
        }
    }

    /// The system's words for a connection error (`No such file or directory`).
    static func reason(_ error: any Error) -> String {
        if let io = error as? IOError { return String(cString: strerror(io.errnoCode)) }
        if let connect = error as? NIOConnectionError, let first = connect.connectionErrors.first?.error { return reason(first) }
        if let channel = error as? ChannelError, case .connectTimeout = channel { return "no answer within 10 s" }
        return "\(error)"
    }
}

/// Runs `body`, failing with `message` when it takes longer than `seconds`.
func within<T: Sendable>(_ seconds: TimeInterval, _ message: String, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
    try await withThrowingTaskGroup(of: T.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(for: .milliseconds(Int(seconds * 1000)))
            throw HallClientError(message)
        }
        defer { group.cancelAll() }
        return try await group.next()!
    }
}
