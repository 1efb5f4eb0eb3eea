import DeviceKit
import Foundation
import HTTPTypes
import HallAPIModels
import Hummingbird
import HummingbirdWebSocket
import Logging
import NIOCore

/// The request context of a WebSocket upgrade on the bridge.
public struct BridgeSocketContext: RequestContext, WebSocketRequestContext {
    public var coreContext: CoreRequestContextStorage
    public let webSocket: WebSocketHandlerReference<Self>
    public let channel: any Channel

    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.webSocket = .init()
        self.channel = source.channel
    }
}

/// `/v1/ws` on the bridge: the event stream as WebSocket text messages (each a
/// `HallEvent` as in the SSE stream, resumable with `?since=`), and commands: a text
/// message `{"id": "1", "method": "POST", "path": "/v1/tickets", "body": {…}}` is
/// answered `{"reply": "1", "status": 201, "body": {…}}`, run through the same routes
/// and the same bridge rules as an HTTP request with the token of the upgrade.
/// Refused upgrades (no token, another origin, a bad Host) are answered by the HTTP
/// routes with the bridge's statuses.
/// The WebSocket routes of the bridge listener (`APIServer(webSockets:)`).
public func bridgeWebSockets(_ services: APIServices, routes: Router<HallRequestContext>) -> Router<BridgeSocketContext> {
    BridgeSocket.router(services: services, routes: routes)
}

enum BridgeSocket {
    static func router(services: APIServices, routes: Router<HallRequestContext>) -> Router<BridgeSocketContext> {
        let router = Router(context: BridgeSocketContext.self)
        let responder = routes.buildResponder()
        router.ws("/v1/ws") { request, context in
            guard let gate = services.bridge, request.uri.path == "/v1/ws" else { return .dontUpgrade }
            guard case .admitted = gate.admit(request) else { return .dontUpgrade }
            return .upgrade([:])
        } onUpgrade: { inbound, outbound, ws in
            // A WebSocket lives long: the deadline for a whole HTTP request no longer applies.
            let channel = ws.requestContext.channel
            _ = try? await channel.pipeline.removeHandler(name: RequestDeadlineHandler.name).get()
            let request = ws.request
            let logger = ws.logger
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await stream(request, services: services, to: outbound, logger: logger) }
                group.addTask {
                    for try await message in inbound.messages(maxSize: 1 << 20) {
                        guard case .text(let text) = message else { continue }
                        let reply = await command(text, upgrade: request, channel: channel, responder: responder, logger: logger)
                        try await outbound.write(.text(reply))
                    }
                }
                // Either side ending (the client closed, the stream lagged or halld stopping:
                // the event log ends every subscription at shutdown) ends the socket; the
                // close frame ends the reading side too.
                try await group.next()
                try? await outbound.close(.goingAway, reason: "the event stream ended")
                group.cancelAll()
            }
        }
        return router
    }

    /// The backlog after `since`, then live events, each once, in sequence order.
    static func stream(_ request: Request, services: APIServices, to outbound: WebSocketOutboundWriter, logger: Logger) async throws {
        let events = services.events
        let types = try EventsController.types(request)
        let subscription = events.subscribe(types: types, capacity: services.subscriberBuffer)
        defer { subscription.cancel() }
        let since = try EventsController.since(request)
        var last: Int64
        if let since { last = since } else { last = try await events.lastSequence() }
        if let since, case let first = try await events.firstAvailable(), first - 1 > since {
            let gap = GapEvent(
                requestedAfter: since, firstAvailable: first,
                message: "events \(since + 1)…\(first - 1) are no longer kept (events.retention_days); the stream goes on from \(first)")
            try await outbound.write(.text(#"{"type":"gap","data":"# + String(decoding: try jsonEncoder.encode(gap), as: UTF8.self) + "}"))
        }
        while true {
            let page = try await events.events(after: last, limit: 500, types: types)
            for event in page {
                try await outbound.write(.text(String(decoding: try jsonEncoder.encode(event), as: UTF8.self)))
                last = event.seq
            }
            if page.count < 500 { break }
        }
        for await event in subscription.events {
            guard event.seq > last else { continue }
            try await outbound.write(.text(String(decoding: try jsonEncoder.encode(event), as: UTF8.self)))
            last = event.seq
        }
        if subscription.isLagged {
            logger.notice("bridge WebSocket subscriber lagged at \(last)")
            let lagged = LaggedEvent(resumeFrom: last, message: "too far behind: reconnect with ?since=\(last)")
            try await outbound.write(.text(#"{"type":"lagged","data":"# + String(decoding: try jsonEncoder.encode(lagged), as: UTF8.self) + "}"))
        }
    }

    struct Command: Decodable {
        var id: JSONValue?
        var method: String
        var path: String
        var body: JSONValue?
    }

    /// Runs one command through the HTTP routes, as the upgrade's token, origin and host.
    static func command(
        _ text: String, upgrade: Request, channel: any Channel, responder: RouterResponder<HallRequestContext>, logger: Logger
    ) async -> String {
        func answer(_ id: JSONValue?, _ status: Int, _ body: JSONValue) -> String {
            let value: JSONValue = ["reply": id ?? .null, "status": .number(Double(status)), "body": body]
            return (try? jsonEncoder.encode(value)).map { String(decoding: $0, as: UTF8.self) } ?? #"{"status":500}"#
        }
        guard let command = try? JSONDecoder().decode(Command.self, from: Data(text.utf8)) else {
            return answer(
                nil, 400, ["error": ["code": "invalidData", "message": "a command is {\"id\": …, \"method\": \"GET\", \"path\": \"/v1/…\", \"body\": {…}}"]])
        }
        guard command.path.hasPrefix("/v1/"), command.path != "/v1/ws", let method = HTTPRequest.Method(command.method.uppercased()) else {
            return answer(command.id, 400, ["error": ["code": "invalidData", "message": "method and a /v1/ path are required", "field": "path"]])
        }
        // The event stream never ends, so as a command it would never be answered.
        if command.path == "/v1/events" || command.path.hasPrefix("/v1/events?") {
            return answer(
                command.id, 400,
                ["error": ["code": "invalidData", "message": "events come as this WebSocket's own messages (/v1/ws?types=…&since=…), not as a command", "field": "path"]])
        }
        var fields = HTTPFields()
        // The upgrade's credentials: a token from ?token= becomes the header.
        if let authorization = upgrade.headers[.authorization] {
            fields[.authorization] = authorization
        } else if let token = upgrade.uri.queryParameters.get("token") {
            fields[.authorization] = "Bearer \(token)"
        }
        if let origin = upgrade.headers[.origin] { fields[.origin] = origin }
        var buffer = ByteBuffer()
        if let body = command.body, let data = try? JSONEncoder().encode(body) {
            buffer.writeBytes(data)
            fields[.contentType] = "application/json"
            fields[.contentLength] = String(data.count)
        }
        let head = HTTPRequest(method: method, scheme: nil, authority: upgrade.head.authority, path: command.path, headerFields: fields)
        var context = HallRequestContext(source: .init(channel: channel, logger: logger))
        context.isBridgeCommand = true
        do {
            let response = try await responder.respond(to: Request(head: head, body: .init(buffer: buffer)), context: context)
            var collected = ByteBuffer()
            try await response.body.write(CollectingWriter(buffer: &collected))
            let body = collected.readableBytes == 0 ? JSONValue.null : (try? JSONDecoder().decode(JSONValue.self, from: Data(buffer: collected))) ?? .string(String(buffer: collected))
            return answer(command.id, Int(response.status.code), body)
        } catch {
            return answer(command.id, 500, ["error": ["code": "hardwareError", "message": .string("\(error)")]])
        }
    }
}

/// Collects a response body in memory (a command's answer over the WebSocket).
struct CollectingWriter: ResponseBodyWriter {
    var buffer: UnsafeMutablePointer<ByteBuffer>

    init(buffer: UnsafeMutablePointer<ByteBuffer>) { self.buffer = buffer }

    mutating func write(_ part: ByteBuffer) async throws {
        var part = part
        buffer.pointee.writeBuffer(&part)
    }

    consuming func finish(_ trailingHeaders: HTTPFields?) async throws {}
}
