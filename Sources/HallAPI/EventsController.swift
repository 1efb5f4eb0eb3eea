import DeviceKit
import Foundation
import Hall
import HallAPIModels
import Hummingbird
import LoopExecutor
import NIOCore
import NIOHTTP1
import NIOHTTPTypes
import Synchronization
import ServiceLifecycle

/// `GET /v1/events`: Server-Sent Events, resumable with `Last-Event-ID` or `?since=`.
///
/// The live subscription is registered before the backlog is read from the store,
/// and events the backlog already gave are skipped, so nothing falls between the
/// two. A subscriber more than `subscriberBuffer` events behind gets a `lagged`
/// event naming where to resume, and the stream ends.
struct EventsController {
    let services: APIServices

    func register(_ router: Router<HallRequestContext>) {
        router.get("/v1/events") { request, context in
            let since = try Self.since(request)
            let types = try Self.types(request)
            // Live events are written straight to the connection, on its event loop, where
            // this stream's task runs too (`APIServer`); not over a WebSocket command,
            // which collects an answer instead.
            let direct = context.isBridgeCommand ? nil : SSEDirectWriter(channel: context.channel, method: request.method)
            let subscription = services.events.subscribe(types: types, capacity: services.subscriberBuffer, direct: direct)
            let events = services.events
            let start: Int64
            if let since { start = since } else { start = try await events.lastSequence() }
            let logger = context.logger
            let body = ResponseBody { writer in
                defer {
                    direct?.stop()
                    subscription.cancel()
                }
                var last = start
                // A daemon shutting down ends the stream; the client resumes from its last id.
                await withGracefulShutdownHandler {
                do {
                    // Asked for events the log no longer keeps (trimmed by age): say so,
                    // with where the log starts, instead of a silent gap.
                    if let since, case let first = try await events.firstAvailable(), first - 1 > since {
                        let gap = GapEvent(
                            requestedAfter: since, firstAvailable: first,
                            message: "events \(since + 1)…\(first - 1) are no longer kept (events.retention_days); the stream goes on from \(first)")
                        let data = String(decoding: try jsonEncoder.encode(gap), as: UTF8.self)
                        try await writer.write(ByteBuffer(string: "event: \(EventType.gap)\ndata: \(data)\n\n"))
                    }
                    // The backlog, page by page (filtered in the query: a short page is the end).
                    while true {
                        let page = try await events.events(after: last, limit: 500, types: types)
                        for event in page {
                            try await writer.write(Self.frame(event))
                            last = event.seq
                        }
                        if page.count < 500 { break }
                    }
                    // From here on an event can be written straight to the connection when
                    // none waits in the stream: `last` is shared with that writer.
                    direct?.start(after: last)
                    for await event in subscription.events {
                        defer { subscription.handled() }
                        if let direct { last = max(last, direct.lastSent) }
                        if event.seq == 0 {
                            try await writer.write(SSEDirectWriter.keepAlive)
                            continue
                        }
                        guard event.seq > last else { continue }
                        try await writer.write(Self.frame(event))
                        last = event.seq
                        direct?.sent(last)
                    }
                    direct?.stop()
                    if let direct { last = max(last, direct.lastSent) }
                    if subscription.isLagged {
                        logger.notice("event subscriber lagged at \(last)")
                        let lagged = LaggedEvent(resumeFrom: last, message: "too far behind: reconnect with ?since=\(last)")
                        let data = String(decoding: try jsonEncoder.encode(lagged), as: UTF8.self)
                        try await writer.write(ByteBuffer(string: "event: \(EventType.lagged)\ndata: \(data)\n\n"))
                    }
                } catch {
                    logger.debug("event stream ended: \(error)")
                }
                } onGracefulShutdown: {
                    subscription.cancel()
                }
                try? await writer.finish(nil)
            }
            var headers = HTTPFields()
            headers[.contentType] = "text/event-stream; charset=utf-8"
            headers[.cacheControl] = "no-cache"
            return Response(status: .ok, headers: headers, body: body)
        }
    }

    /// An event as its SSE frame. Every subscriber sends the same event: the last
    /// frames are kept, so an event is encoded once, not once per subscriber (the CPU
    /// of 99 encodings an event with 100 subscribers; the fan-out's latency did not move).
    static func frame(_ event: HallEvent) -> ByteBuffer { encoded(event).frame }

    /// The frame as one HTTP/1.1 chunk (size line, frame, CRLF), which `SSEDirectWriter`
    /// writes below the HTTP encoder: encoded once for every subscriber, as the frame is.
    static func chunk(_ event: HallEvent) -> ByteBuffer { encoded(event).chunk }

    private static func encoded(_ event: HallEvent) -> (frame: ByteBuffer, chunk: ByteBuffer) {
        // Newest first, by sequence number before the whole event (several daemons in one
        // process, as in the tests, give the same numbers): no event is copied.
        let kept = frames.withLock { kept -> (ByteBuffer, ByteBuffer)? in
            for i in kept.indices.reversed() where kept[i].event.seq == event.seq && kept[i].event == event { return (kept[i].frame, kept[i].chunk) }
            return nil
        }
        if let kept { return kept }
        var data = JSONText()
        if (try? data.append(event)) == nil { data = JSONText(); data.raw("{}") }
        var frame = ByteBuffer(string: "id: \(event.seq)\nevent: \(event.type)\ndata: ")
        frame.writeBytes(data.bytes)
        frame.writeString("\n\n")
        let chunk = Self.chunked(frame)
        frames.withLock { kept in
            kept.append((event, frame, chunk))
            if kept.count > 32 { kept.removeFirst(kept.count - 32) }
        }
        return (frame, chunk)
    }

    /// `bytes` as one chunk of a chunked HTTP/1.1 body.
    static func chunked(_ bytes: ByteBuffer) -> ByteBuffer {
        var chunk = ByteBuffer(string: String(bytes.readableBytes, radix: 16) + "\r\n")
        chunk.writeImmutableBuffer(bytes)
        chunk.writeString("\r\n")
        return chunk
    }

    /// The frames of the last events sent, newest last.
    private static let frames = Mutex<[(event: HallEvent, frame: ByteBuffer, chunk: ByteBuffer)]>([])

    static func since(_ request: Request) throws -> Int64? {
        let header = request.headers[.init("Last-Event-ID")!]
        let query = request.uri.queryParameters.get("since")
        if let header, Int64(header).map({ $0 < 0 }) ?? true {
            throw APIError.invalidData("Last-Event-ID must be a sequence number (0 or more), not '\(header)'", field: "Last-Event-ID")
        }
        guard let raw = query ?? header else { return nil }
        guard let seq = Int64(raw), seq >= 0 else {
            throw APIError.invalidData("since must be a sequence number (0 or more), not '\(raw)'", field: query != nil ? "since" : "Last-Event-ID")
        }
        return seq
    }

    static func types(_ request: Request) throws -> Set<String>? {
        guard let raw = request.uri.queryParameters.get("types") else { return nil }
        let types = Set(raw.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty })
        for t in types where !t.allSatisfy({ $0.isASCII && ($0.isLetter || $0 == "." || $0 == "-") }) {
            throw APIError.invalidData("type '\(t)' is not an event type", field: "types")
        }
        return types.isEmpty ? nil : types
    }
}

/// An SSE subscriber's live events written straight to its HTTP/1 connection, on the
/// connection's event loop: one write of the event's chunk for each, where the stream's
/// task would be woken, read the event from its stream and write it through the
/// response writer and the HTTP handlers (most of an event loop's work for 100
/// subscribers). Only while the task reads live events (`start` to `stop`) with nothing
/// waiting in its stream, and while the connection takes more (writable): otherwise the
/// event goes into the stream, and the task's writes, which wait for a slow client, keep
/// the lag rule (`lagged`).
///
/// The chunk is written at NIO's HTTP encoder, below Hummingbird's handlers, which do
/// nothing with a body part but pass it on: the answer to a GET without a length is
/// chunked (HTTP/1.1, as Hummingbird answers). For a HEAD, whose answer has no body,
/// nothing is written here.
final class SSEDirectWriter: EventDirectWriter {
    static let keepAlive = ByteBuffer(string: ": keep-alive\n\n")
    static let keepAliveChunk = EventsController.chunked(keepAlive)

    let queue: any EventDeliveryQueue
    private let channel: any Channel
    private let hasBody: Bool
    /// The HTTP encoder's place in the pipeline, found on the event loop at `start`.
    private let encoder: NIOLoopBoundBox<ChannelHandlerContext?>
    private let live = Atomic<Bool>(false)
    private let last = Atomic<Int64>(0)

    init(channel: any Channel, method: HTTPRequest.Method) {
        self.channel = channel
        self.hasBody = method == .get
        self.queue = EventLoopTaskExecutor.of(channel.eventLoop)
        self.encoder = NIOLoopBoundBox(nil, eventLoop: channel.eventLoop)
    }

    /// The highest sequence number written, by either path.
    var lastSent: Int64 { last.load(ordering: .acquiring) }

    /// The task reads live events now; `seq` and those before it were written. Only
    /// when the task runs on the connection's event loop, as the direct writes do (its
    /// writes and theirs then never run at once), and the pipeline has NIO's HTTP
    /// encoder; otherwise every event goes through the stream.
    func start(after seq: Int64) {
        last.store(seq, ordering: .releasing)
        guard hasBody, channel.eventLoop.inEventLoop, let context = try? channel.pipeline.syncOperations.context(handlerType: HTTPResponseEncoder.self) else { return }
        encoder.value = context
        live.store(true, ordering: .releasing)
    }

    /// The task wrote `seq` itself.
    func sent(_ seq: Int64) { last.store(seq, ordering: .releasing) }

    /// The task stops reading live events (the stream ended): nothing more is written here.
    func stop() { live.store(false, ordering: .releasing) }

    func write(_ delivery: EventDelivery) -> Bool {
        guard live.load(ordering: .acquiring), channel.isActive, channel.isWritable, let encoder = encoder.value else { return false }
        let event = delivery.event
        if event.seq == 0 {
            encoder.writeAndFlush(NIOAny(IOData.byteBuffer(Self.keepAliveChunk)), promise: nil)
            return true
        }
        guard event.seq > last.load(ordering: .acquiring) else { return true }
        let chunk: ByteBuffer
        if let made = delivery.encoding as? Chunk {
            chunk = made.bytes
        } else {
            chunk = EventsController.chunk(event)
            delivery.encoding = Chunk(bytes: chunk)
        }
        encoder.writeAndFlush(NIOAny(IOData.byteBuffer(chunk)), promise: nil)
        last.store(event.seq, ordering: .releasing)
        return true
    }

    /// An event's chunk, kept in its `EventDelivery` for the queue's other subscribers.
    final class Chunk {
        let bytes: ByteBuffer
        init(bytes: ByteBuffer) { self.bytes = bytes }
    }
}
