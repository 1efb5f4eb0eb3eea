import Foundation
import HTTPTypes
import Hall
import HallConfiguration
import Hummingbird
import HummingbirdCore
import HummingbirdWebSocket
import Logging
import LoopExecutor
import NIOCore
import NIOExtras
import NIOHTTP1
import NIOHTTPTypes
import NIOPosix
import ServiceLifecycle
import Synchronization

/// Where the API listens.
public enum ListenAddress: Sendable, Equatable, CustomStringConvertible {
    /// A Unix socket halld binds itself (the socket file is prepared by the caller).
    case unixSocket(path: String)
    /// A listening socket inherited from systemd (`LISTEN_FDS`): halld neither binds
    /// nor removes it.
    case inherited(descriptor: Int32, name: String)
    /// A TCP listener (the daemon allows loopback addresses only).
    case tcp(host: String, port: Int)

    public var description: String {
        switch self {
        case .unixSocket(let path): path
        case .inherited(let fd, let name): "\(name) (descriptor \(fd) from systemd)"
        case .tcp(let host, let port): "\(host):\(port)"
        }
    }
}

/// The HTTP/1.1 server of the API: Hummingbird's HTTP channel and the router, on a
/// listener halld binds or one inherited from systemd, with connection limits.
/// (Hummingbird's own server binds only by host/port or path.)
public struct APIServer: Service {
    public typealias Responder = RouterResponder<HallRequestContext>

    let address: ListenAddress
    let responder: Responder
    let limits: ConnectionLimits
    let serverName: String
    let logger: Logger
    let onRunning: @Sendable (any Channel) async -> Void
    /// Routes a WebSocket upgrade may take (the bridge's `/v1/ws`); nil: no upgrades.
    let webSocketResponder: RouterResponder<BridgeSocketContext>?

    public init(
        address: ListenAddress, router: Router<HallRequestContext>, limits: ConnectionLimits = .init(), serverName: String, logger: Logger,
        webSockets: Router<BridgeSocketContext>? = nil, onRunning: @escaping @Sendable (any Channel) async -> Void = { _ in }
    ) {
        self.address = address
        self.webSocketResponder = webSockets?.buildResponder()
        self.responder = router.buildResponder()
        self.limits = limits
        self.serverName = serverName
        self.logger = logger
        self.onRunning = onRunning
    }

    public func run() async throws {
        let http1 = HTTP1Channel.Configuration(additionalChannelHandlers: [RequestEndHandler()], idleTimeout: TimeAmount(limits.idleTimeout))
        if let webSocketResponder {
            try await serve(
                HTTP1WebSocketUpgradeChannel(
                    responder: respond, webSocketResponder: webSocketResponder,
                    configuration: .init(http1: http1, ws: .init(maxFrameSize: 1 << 16, autoPing: .enabled(timePeriod: .seconds(30))))))
        } else {
            try await serve(HTTP1Channel(responder: respond, configuration: http1))
        }
    }

    /// Accepts connections on the address and serves each with `http`.
    private func serve<HTTP: ServerChildChannel>(_ http: HTTP) async throws {
        let group = MultiThreadedEventLoopGroup.singleton
        let quiescing = ServerQuiescingHelper(group: group)
        let open = Atomic<Int>(0)
        let (limits, logger, address) = (limits, logger, address)
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .serverChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(quiescing.makeServerChannelHandler(channel: channel))
                }
            }
        // A connection over the limit is answered `503` and closed at once: the
        // client learns why instead of waiting in the kernel's queue.
        let initializer: @Sendable (any Channel) -> EventLoopFuture<HTTP.Value?> = { channel in
            let count = open.wrappingAdd(1, ordering: .relaxed).newValue
            channel.closeFuture.whenComplete { _ in open.wrappingSubtract(1, ordering: .relaxed) }
            guard count <= limits.maxConnections else {
                logger.warning("refused a connection on \(address): \(count - 1) open, api.max_connections = \(limits.maxConnections)")
                return Self.refuse(channel, open: count - 1, limit: limits.maxConnections, as: HTTP.Value.self)
            }
            // Who connected, from the kernel, now: kept with the connection for its requests.
            return PeerIdentity.atAccept(channel).flatMap { identity in
                ConnectionPeers.shared.remember(identity, for: channel)
                do {
                    try channel.pipeline.syncOperations.addHandler(
                        RequestDeadlineHandler(timeout: limits.requestTimeout, logger: logger), name: RequestDeadlineHandler.name)
                } catch {
                    return channel.eventLoop.makeFailedFuture(error)
                }
                return http.setup(channel: channel, logger: logger).map { Optional($0) }
            }
        }
        let listener: NIOAsyncChannel<HTTP.Value?, Never>
        switch address {
        case .unixSocket(let path):
            listener = try await bootstrap.bind(unixDomainSocketPath: path, cleanupExistingSocketFile: false, childChannelInitializer: initializer)
        case .inherited(let fd, _):
            listener = try await bootstrap.bind(fd, childChannelInitializer: initializer)
        case .tcp(let host, let port):
            listener = try await bootstrap.bind(host: host, port: port, childChannelInitializer: initializer)
        }
        logger.info("API listening on \(address)", metadata: ["limits": "\(limits)"])
        await withGracefulShutdownHandler {
            await onRunning(listener.channel)
            await withDiscardingTaskGroup { tasks in
                do {
                    try await listener.executeThenClose { inbound in
                        for try await child in inbound {
                            guard let child else { continue }
                            // The connection's requests run on its event loop's thread: a request
                            // read there is handled and answered there, instead of being handed
                            // to the cooperative pool and its answer handed back (two thread
                            // wake-ups a request, most of a short request's cost on this
                            // machine). Default actors the request calls run there too
                            // (docs/ARCHITECTURE.md, "Threads").
                            tasks.addTask(executorPreference: EventLoopTaskExecutor.of(child.channel.eventLoop)) { await http.handle(value: child, logger: logger) }
                        }
                    }
                } catch {
                    logger.error("API listener on \(address) failed: \(error)")
                }
            }
        } onGracefulShutdown: {
            // Stop accepting; open connections end after their current request.
            quiescing.initiateShutdown(promise: nil)
        }
    }

    /// The listener's bound port (TCP with port 0 picks one).
    public static func port(of channel: any Channel) -> Int? { channel.localAddress?.port }

    private static func refuse<Value: Sendable>(_ channel: any Channel, open: Int, limit: Int, as: Value.Type) -> EventLoopFuture<Value?> {
        let body = #"{"code":"deviceBusy","message":"too many connections: \#(open) open, the limit is \#(limit) (api.max_connections)"}"#
        let text = "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\nRetry-After: 1\r\nConnection: close\r\n\r\n\(body)"
        return channel.eventLoop.makeCompletedFuture {
            try channel.pipeline.syncOperations.addHandler(RefuseHandler(answer: text))
            return nil
        }
    }

    @Sendable private func respond(_ request: Request, _ writer: consuming ResponseWriter, _ channel: any Channel) async throws {
        let context = HallRequestContext(source: .init(channel: channel, logger: logger))
        var response: Response
        do {
            response = try await responder.respond(to: request, context: context)
        } catch let error as HTTPParserError {
            throw error
        } catch {
            logger.error("unanswered error on \(request.method) \(request.uri.path): \(error)")
            response = Response(status: .internalServerError)
        }
        response.headers[.server] = serverName
        do {
            try await writer.write(response: response.head, body: response.body)
        } catch is HTTPParserError {
            // Rethrowing the parser error itself would make the channel answer again.
            throw ResponseWriteFailed()
        }
    }
}

struct ResponseWriteFailed: Error {}

/// Answers a connection over the limit with a fixed response once it is active, then closes it.
final class RefuseHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer
    let answer: String

    init(answer: String) { self.answer = answer }

    func channelActive(context: ChannelHandlerContext) {
        var buffer = context.channel.allocator.buffer(capacity: answer.utf8.count)
        buffer.writeString(answer)
        let ctx = context
        context.writeAndFlush(wrapOutboundOut(buffer)).assumeIsolatedUnsafeUnchecked().whenComplete { _ in ctx.close(promise: nil) }
    }

    /// What the refused client sends is dropped.
    func channelRead(context: ChannelHandlerContext, data: NIOAny) {}
}

/// Closes a connection whose request has not arrived whole within the timeout from
/// its first byte: slow senders, and half-sent requests of clients that went away.
/// Sits next to the socket and sees raw bytes; `RequestEndHandler`, after the HTTP
/// decoder, disarms it when the request's end arrives, so the time a handler takes
/// (an interactive health check waits for a key) does not count. It only reads: every
/// byte written (each event of an SSE stream) passes it by (seeing every write was a
/// thirtieth of the CPU of an event sent to 100 subscribers). An answer given before
/// its request has arrived whole (refused early) leaves the deadline running, so a
/// client that never sends the rest is cut off at it.
final class RequestDeadlineHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private let timeout: TimeAmount
    private let logger: Logger
    private var deadline: Scheduled<Void>?
    /// Its name in the pipeline: a connection upgraded to a WebSocket removes it.
    static let name = "halld-request-deadline"

    init(timeout: Duration, logger: Logger) {
        self.timeout = TimeAmount(timeout)
        self.logger = logger
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if deadline == nil {
            let (ctx, limit) = (context, timeout)
            let logger = self.logger
            deadline = context.eventLoop.assumeIsolatedUnsafeUnchecked().scheduleTask(in: limit) {
                logger.notice("closed a connection whose request was not complete after \(limit.nanoseconds / 1_000_000) ms (api.request_timeout_seconds)")
                ctx.close(promise: nil)
            }
        }
        context.fireChannelRead(data)
    }

    /// The request arrived whole.
    func requestEnded() {
        deadline?.cancel()
        deadline = nil
    }

    func channelInactive(context: ChannelHandlerContext) {
        requestEnded()
        context.fireChannelInactive()
    }
}

/// Tells the connection's `RequestDeadlineHandler` that a request's last part arrived.
final class RequestEndHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    private var deadline: RequestDeadlineHandler?

    func handlerAdded(context: ChannelHandlerContext) {
        deadline = try? context.pipeline.syncOperations.handler(type: RequestDeadlineHandler.self)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .end = unwrapInboundIn(data) { deadline?.requestEnded() }
        context.fireChannelRead(data)
    }
}

/// Events for the subscribers of one event loop, handed to it at once (`EventLog.fanOut`).
extension EventLoopTaskExecutor: EventDeliveryQueue {
    public func deliver(_ work: @escaping @Sendable () -> Void) { eventLoop.execute(work) }
}
