import DeviceKit
import Foundation
import HallAPIModels
import Hummingbird
import Synchronization

/// Gives every request its caller's identity and role, and turns every error into
/// the API's JSON error body. Denials are written to the event log (`access.denied`).
struct AccessMiddleware: RouterMiddleware {
    typealias Context = HallRequestContext
    let services: APIServices
    /// The routes' paths and methods, to answer 405 with `Allow` for a known path.
    let routes: RouteTable

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var context = context
        var corsOrigin: String?
        switch context.channel.localAddress {
        case let address? where services.bridge != nil && address.port == services.bridge?.port:
            // The browser bridge: a token's role, for its origins only.
            let gate = services.bridge!
            // Browsers ask for an icon with every page, without the page's token: no icon,
            // and no denial in the audit for it.
            if request.method == .get, request.uri.path == "/favicon.ico" { return Response(status: .noContent) }
            if request.method == .options {
                switch gate.preflight(request) {
                case .success(let answer): return answer
                case .failure(let refusal):
                    await audit(request, context, refusal, via: "bridge", token: nil)
                    return Self.response(refusal)
                }
            }
            if request.uri.path == "/console", let code = request.uri.queryParameters.get("session"),
                AccessMiddleware.hostRefusal(request, port: gate.port, listener: "bridge") == nil
            {
                guard let session = gate.redeem(code) else {
                    let refusal = APIError(.unauthorized, .notAuthorized, "this console address was used already or is too old: run hallctl console again")
                    await audit(request, context, refusal, via: "bridge", token: "console")
                    return Self.response(refusal)
                }
                context.logger.notice("technician console session started")
                return Response(
                    status: .seeOther,
                    headers: [
                        .location: "/console",
                        .setCookie: "\(BridgeGate.consoleCookie)=\(session); Path=/; HttpOnly; SameSite=Strict; Max-Age=\(Int(BridgeGate.sessionLifetime))",
                    ])
            }
            switch gate.admit(request) {
            case .refused(let refusal, let token):
                context.logger.notice("bridge refused \(request.method) \(request.uri.path): \(refusal.body.message)")
                await audit(request, context, refusal, via: "bridge", token: token)
                return Self.response(refusal)
            case .admitted(let token, let origin):
                context.role = token.role
                corsOrigin = origin
            }
        case .v4?, .v6?:
            // The TCP listener (loopback only): no peer credentials, its configured role.
            // No web page may drive it: browsers come through the bridge, with tokens.
            if let refusal = Self.browserRefusal(request, port: context.channel.localAddress?.port) {
                context.logger.notice("refused \(request.method) \(request.uri.path) on the TCP listener: \(refusal.body.message)")
                return Self.response(refusal)
            }
            context.role = services.tcpRole
        default:
            context.peer = await services.identify(context)
            context.role = services.roles.role(for: context.peer)
        }
        do {
            // A process outside every configured group may only see whether halld is there.
            if context.role == .none, !["/v1/info", "/v1/health"].contains(request.uri.path) {
                throw APIError.notAuthorized("this connection has no role (uid \(context.peer.map { String($0.uid) } ?? "?")): add its user to a group in [roles]")
            }
            // A screen reads; on any listener.
            if context.role == .display, request.method != .get, request.method != .head {
                throw APIError.notAuthorized("the display role reads the hall and changes nothing: \(request.method) \(request.uri.path) is refused")
            }
            return Self.allowing(corsOrigin, try await next(request, context))
        } catch {
            if let answer = APIError(answering: error) {
                if answer.body.code == .notAuthorized { await audit(request, context, answer) }
                return Self.allowing(corsOrigin, Self.response(answer))
            }
            if let error = error as? HTTPError {
                let allowed = routes.methods(for: request.uri.path)
                if error.status == .notFound, !allowed.isEmpty {
                    var response = Self.response(
                        APIError(.methodNotAllowed, .unsupportedCommand, "\(request.method) is not allowed on \(request.uri.path); allowed: \(allowed.joined(separator: ", "))"))
                    response.headers[.allow] = allowed.joined(separator: ", ")
                    return response
                }
                let code: CompletionCode = error.status == .notFound ? .notFound : error.status == .methodNotAllowed ? .unsupportedCommand : .invalidData
                return Self.response(APIError(error.status, code, error.body ?? error.status.reasonPhrase))
            }
            context.logger.error("unexpected error on \(request.method) \(request.uri.path): \(error)")
            return Self.response(APIError(.internalServerError, .hardwareError, "internal error: \(error)"))
        }
    }

    /// Content types a web page can send without a CORS preflight, and so without
    /// asking: never accepted on the TCP listener, whatever the route.
    static let simpleContentTypes: Set<String> = ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data"]

    /// Host names that name the loopback listener itself.
    static let loopbackHosts: Set<String> = ["127.0.0.1", "localhost", "[::1]", "::1"]

    /// Why a request on the loopback TCP listener is refused, or nil: a request with
    /// `Origin` (a browser; 403), a `Host` that is not the listener's own address (DNS
    /// rebinding; 421), a body that is not JSON or a document type a route takes (415).
    static func browserRefusal(_ request: Request, port: Int?) -> APIError? {
        if let origin = request.headers[.origin] {
            return APIError(
                .forbidden, .notAuthorized,
                "requests from web pages (Origin: \(origin)) are refused on the TCP listener; browsers use the bridge listener with a token")
        }
        if let refusal = hostRefusal(request, port: port, listener: "TCP") { return refusal }
        return bodyRefusal(request)
    }

    /// A request whose `Host` is not the loopback listener's own address (DNS
    /// rebinding): 421.
    static func hostRefusal(_ request: Request, port: Int?, listener: String) -> APIError? {
        guard let host = request.head.authority else {
            return APIError(.misdirectedRequest, .invalidData, "a Host header naming 127.0.0.1:\(port.map(String.init) ?? "PORT") is required on the \(listener) listener", field: "Host")
        }
        var name = Substring(host.lowercased())
        var hostPort: Substring?
        if name.hasPrefix("[") {
            if let close = name.firstIndex(of: "]") {
                let after = name[name.index(after: close)...]
                if after.hasPrefix(":") { hostPort = after.dropFirst() }
                name = name[...close]
            }
        } else if let colon = name.lastIndex(of: ":") {
            hostPort = name[name.index(after: colon)...]
            name = name[..<colon]
        }
        let portMatches = hostPort.map { p in port.map { String($0) == p } ?? false } ?? true
        guard loopbackHosts.contains(String(name)), portMatches else {
            return APIError(
                .misdirectedRequest, .notAuthorized,
                "Host '\(host)' is not this listener (127.0.0.1:\(port.map(String.init) ?? "?") or localhost); refused against DNS rebinding", field: "Host")
        }
        return nil
    }

    /// A body that is neither JSON nor a document type a route takes (415).
    static func bodyRefusal(_ request: Request) -> APIError? {
        let hasBody = (request.headers[.contentLength].flatMap { Int($0) } ?? 0) > 0 || request.headers[.transferEncoding] != nil
        if hasBody {
            let contentType = request.headers[.contentType] ?? ""
            let media = contentType.split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces).lowercased() } ?? ""
            let accepted = media == "application/json" || (PrintDocument.mediaTypes[media] != nil && !simpleContentTypes.contains(media))
            if !accepted {
                return APIError(
                    .unsupportedMediaType, .invalidData,
                    "Content-Type '\(contentType)' is refused on the TCP listener: send application/json\(simpleContentTypes.contains(media) ? " (a web page can send \(media) without asking)" : "")",
                    field: "Content-Type")
            }
        }
        return nil
    }

    private func audit(_ request: Request, _ context: Context, _ error: APIError, via listener: String? = nil, token: String? = nil) async {
        context.logger.notice("denied \(request.method) \(request.uri.path) to \(context.role.rawValue) uid \(context.peer.map { String($0.uid) } ?? "?")")
        var data: JSONValue = [
            "method": .string(request.method.rawValue), "path": .string(request.uri.path), "role": .string(context.role.rawValue),
            "uid": context.peer.map { .number(Double($0.uid)) } ?? .null, "pid": context.peer.map { .number(Double($0.pid)) } ?? .null,
        ]
        if case .object(var o) = data, let listener {
            o["listener"] = .string(listener)
            o["status"] = .number(Double(error.status.code))
            o["reason"] = .string(error.body.message)
            o["token"] = token.map { .string($0) } ?? .null
            o["origin"] = request.headers[.origin].map { .string($0) } ?? .null
            data = .object(o)
        }
        _ = try? await services.events.publish(NewEvent(type: EventType.accessDenied, data: data))
    }

    /// A bridge answer readable by the page of `origin` (its token's origin), when there is one.
    static func allowing(_ origin: String?, _ response: Response) -> Response {
        guard let origin else { return response }
        var response = response
        response.headers[.accessControlAllowOrigin] = origin
        response.headers[.vary] = "Origin"
        return response
    }

    static func response(_ error: APIError) -> Response {
        var response = jsonResponse(ErrorResponse(error.body), status: error.status)
        if let wait = error.retryAfter { response.headers[.retryAfter] = String(wait) }
        return response
    }
}

/// Every route's path pattern and methods, filled once the router is built.
final class RouteTable: Sendable {
    private let entries = Mutex<[(pattern: [Substring], methods: [String])]>([])

    func fill(_ routes: [(path: String, method: String)]) {
        var byPath: [String: [String]] = [:]
        for r in routes { byPath[r.path, default: []].append(r.method) }
        entries.withLock { $0 = byPath.map { (pattern: $0.key.split(separator: "/"), methods: $0.value.sorted()) } }
    }

    /// The methods of the route whose pattern matches `path` (`{id}` and `:id` match one segment).
    func methods(for path: String) -> [String] {
        let parts = path.split(separator: "/")
        return entries.withLock { list in
            list.first { e in
                e.pattern.count == parts.count
                    && zip(e.pattern, parts).allSatisfy { p, s in p == s || p.hasPrefix("{") || p.hasPrefix(":") || p == "*" }
            }?.methods ?? []
        }
    }
}

let jsonEncoder: JSONEncoder = {
    let e = JSONEncoder()
    e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    // The hall's times (issuedAt, calledAt …) as ISO 8601.
    e.dateEncodingStrategy = .iso8601
    return e
}()

/// The last answers of a route that is polled far more often than it changes, by key
/// (a query): an answer equal to the last one is not encoded again (JSONEncoder was a
/// fifth of such a request's CPU time). Comparing is much cheaper than encoding.
final class EncodedAnswers<Value: Encodable & Equatable & Sendable>: Sendable {
    private let last = Mutex<[String: (value: Value, body: ByteBuffer, version: Int?)]>([:])

    /// The last answer of `key` when it was made at `version` of its source (a source
    /// that counts its changes): asking the source again is not needed.
    func kept(_ key: String = "", version: Int) -> Response? {
        guard let hit = last.withLock({ $0[key] }), hit.version == version else { return nil }
        return jsonResponse(encoded: hit.body)
    }

    /// `value`'s answer; `version`: the source's change count read before `value` was.
    func response(_ value: Value, key: String = "", version: Int? = nil) throws -> Response {
        let body: ByteBuffer
        if let hit = last.withLock({ $0[key] }), hit.value == value {
            body = hit.body
        } else {
            body = ByteBuffer(bytes: try jsonEncoder.encode(value))
        }
        last.withLock { $0[key] = (value, body, version) }
        return jsonResponse(encoded: body)
    }
}

/// The last encoded answer of a route whose source counts its versions (a hall
/// revision, a list generation), by key: the source is asked with the version kept
/// here and answers nil while it is still current, so the answer is encoded once per
/// change however often it is polled.
final class VersionedAnswers<Key: Hashable & Sendable>: Sendable {
    private let last = Mutex<[Key: (version: Int, body: ByteBuffer)]>([:])

    /// The answer kept for `key`, with its version.
    func kept(_ key: Key) -> (version: Int, body: ByteBuffer)? { last.withLock { $0[key] } }

    /// Keeps `body` as the answer of `version` unless a newer one is kept already (two
    /// requests may encode at once).
    func keep(_ key: Key, version: Int, body: ByteBuffer) {
        last.withLock { if ($0[key]?.version ?? Int.min) < version { $0[key] = (version, body) } }
    }

    /// The answer: the kept one when `fresh` (given the kept version) says nothing
    /// changed, else the new value encoded by `encode` and kept.
    func response<Value>(
        _ key: Key, fresh: (Int?) async throws -> (version: Int, value: Value)?, encode: (Value) throws -> ByteBuffer
    ) async throws -> Response {
        let kept = kept(key)
        guard let new = try await fresh(kept?.version) else { return jsonResponse(encoded: kept!.body) }
        let body = try encode(new.value)
        keep(key, version: new.version, body: body)
        return jsonResponse(encoded: body)
    }
}

/// A CSV answer (UTF-8), offered for download as `filename` when one is given.
func csvResponse(_ text: String, filename: String? = nil) -> Response {
    var headers: HTTPFields = [.contentType: "text/csv; charset=utf-8"]
    if let filename { headers[.contentDisposition] = "attachment; filename=\"\(filename)\"" }
    return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: text)))
}

extension Request {
    /// Whether `?format=csv` was asked for (`json`, the default, otherwise); another
    /// format is refused naming the field.
    func wantsCSV() throws -> Bool {
        let format = uri.queryParameters.get("format") ?? "json"
        guard format == "json" || format == "csv" else { throw APIError.invalidData("format '\(format)' is not json or csv", field: "format") }
        return format == "csv"
    }

    /// A query parameter naming one of an enumeration's cases (`?state=open`); nil when
    /// absent, another value refused naming the parameter and the cases.
    func query<T: RawRepresentable & CaseIterable>(_ name: String, as type: T.Type) throws -> T? where T.RawValue == String {
        guard let raw = uri.queryParameters.get(name) else { return nil }
        guard let value = T(rawValue: raw) else {
            throw APIError.invalidData("\(name) '\(raw)' is not one of \(T.allCases.map(\.rawValue).joined(separator: ", "))", field: name)
        }
        return value
    }
}

/// An answer whose JSON is encoded already.
func jsonResponse(encoded body: ByteBuffer, status: HTTPResponse.Status = .ok, headers: HTTPFields = [:]) -> Response {
    var headers = headers
    headers[.contentType] = "application/json; charset=utf-8"
    return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: body))
}

func jsonResponse(_ value: some Encodable, status: HTTPResponse.Status = .ok, headers: HTTPFields = [:]) -> Response {
    let data = (try? jsonEncoder.encode(value)) ?? Data(#"{"error":{"code":"hardwareError","message":"response could not be encoded"}}"#.utf8)
    return jsonResponse(encoded: ByteBuffer(bytes: data), status: status, headers: headers)
}

extension Request {
    /// The body, up to `limit` bytes: a larger Content-Length is refused before the
    /// body is read (the client need not send it), a larger body while it is read.
    func collectBody(upTo limit: Int, what: String) async throws -> ByteBuffer {
        // Worded only for a refusal: every request with a body passes here.
        var human: String { limit >= 1024 * 1024 ? "\(limit / 1024 / 1024) MiB" : "\(limit / 1024) KiB" }
        if let declared = headers[.contentLength].flatMap(Int.init), declared > limit {
            throw APIError(.contentTooLarge, .invalidData, "\(what) of \(declared) bytes is larger than \(human)", field: "Content-Length")
        }
        do {
            return try await body.collect(upTo: limit)
        } catch {
            throw APIError(.contentTooLarge, .invalidData, "\(what) larger than \(human)")
        }
    }
}

extension Parameters {
    func deviceID() throws -> DeviceID {
        let raw = get("id") ?? ""
        guard let id = DeviceID(raw) else { throw APIError.notFound("no device '\(raw)'") }
        return id
    }
}
