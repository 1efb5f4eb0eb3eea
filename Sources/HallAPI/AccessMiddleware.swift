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
        switch context.channel.localAddress {
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
            return try await next(request, context)
        } catch {
            if let answer = APIError(answering: error) {
                if answer.body.code == .notAuthorized { await audit(request, context, answer) }
                return Self.response(answer)
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
        guard let host = request.head.authority else {
            return APIError(.misdirectedRequest, .invalidData, "a Host header naming 127.0.0.1:\(port.map(String.init) ?? "PORT") is required on the TCP listener", field: "Host")
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

    private func audit(_ request: Request, _ context: Context, _ error: APIError) async {
        context.logger.notice("denied \(request.method) \(request.uri.path) to \(context.role.rawValue) uid \(context.peer.map { String($0.uid) } ?? "?")")
        let data: JSONValue = [
            "method": .string(request.method.rawValue), "path": .string(request.uri.path), "role": .string(context.role.rawValue),
            "uid": context.peer.map { .number(Double($0.uid)) } ?? .null, "pid": context.peer.map { .number(Double($0.pid)) } ?? .null,
        ]
        _ = try? await services.events.publish(NewEvent(type: EventType.accessDenied, data: data))
    }

    static func response(_ error: APIError) -> Response {
        jsonResponse(ErrorResponse(error.body), status: error.status)
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

func jsonResponse(_ value: some Encodable, status: HTTPResponse.Status = .ok, headers: HTTPFields = [:]) -> Response {
    var headers = headers
    headers[.contentType] = "application/json; charset=utf-8"
    let data = (try? jsonEncoder.encode(value)) ?? Data(#"{"error":{"code":"hardwareError","message":"response could not be encoded"}}"#.utf8)
    return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
}

extension Request {
    /// The body, up to `limit` bytes: a larger Content-Length is refused before the
    /// body is read (the client need not send it), a larger body while it is read.
    func collectBody(upTo limit: Int, what: String) async throws -> ByteBuffer {
        let human = limit >= 1024 * 1024 ? "\(limit / 1024 / 1024) MiB" : "\(limit / 1024) KiB"
        if let declared = headers[.contentLength].flatMap(Int.init), declared > limit {
            throw APIError(.contentTooLarge, .invalidData, "\(what) of \(declared) bytes is larger than \(human)", field: "Content-Length")
        }
        do {
            return try await body.collect(upTo: limit)
        } catch {
            throw APIError(.contentTooLarge, .invalidData, "\(what) larger than \(human)")
        }
    }

    /// Reads a JSON object body into `T`, refusing unknown fields and naming the
    /// field that is wrong. An empty body reads as `{}` when `emptyAllowed`.
    func decodeStrict<T: Codable>(_ type: T.Type, fields: Set<String>, emptyAllowed: Bool = false) async throws -> T {
        let buffer = try await collectBody(upTo: 64 * 1024, what: "request body")
        return try StrictJSON.decode(type, from: Data(buffer: buffer), fields: fields, emptyAllowed: emptyAllowed)
    }
}

/// How every JSON request body is read: a JSON object, no unknown fields, the
/// wrong field named. A pure function, so the fuzzer can drive it with any bytes.
public enum StrictJSON {
    public static func decode<T: Codable>(_ type: T.Type, from body: Data, fields: Set<String>, emptyAllowed: Bool = false) throws -> T {
        var data = body
        if data.allSatisfy({ $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }) {
            guard emptyAllowed else { throw APIError.invalidData("request body is empty; expected a JSON object") }
            data = Data("{}".utf8)
        }
        let value: JSONValue
        do {
            value = try JSONDecoder().decode(JSONValue.self, from: data)
        } catch {
            throw APIError.invalidData("body is not valid JSON: \(describe(error))")
        }
        guard case .object(let object) = value else { throw APIError.invalidData("body must be a JSON object") }
        for key in object.keys.sorted() where !fields.contains(key) {
            throw APIError.invalidData("unknown field '\(key)'; expected \(fields.sorted().joined(separator: ", "))", field: key)
        }
        if let path = firstNull(value, path: "") {
            throw APIError.invalidData("\(path) is null: leave an optional field out instead", field: path)
        }
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .custom { d in
            let c = try d.singleValueContainer()
            let text = try c.decode(String.self)
            // A calendar day that exists (no 11-31), then RFC 3339 with or without fractional seconds.
            let ymd = text.prefix(10).split(separator: "-").compactMap { Int($0) }
            guard ymd.count == 3, DateComponents(calendar: Calendar(identifier: .gregorian), year: ymd[0], month: ymd[1], day: ymd[2]).isValidDate else {
                throw DecodingError.dataCorruptedError(in: c, debugDescription: "'\(text)' is not a day of the calendar")
            }
            if let date = try? Date.ISO8601FormatStyle(includingFractionalSeconds: true).parse(text) { return date }
            if let date = try? Date.ISO8601FormatStyle().parse(text) { return date }
            throw DecodingError.dataCorruptedError(in: c, debugDescription: "'\(text)' is not an ISO 8601 time (2026-11-30T09:30:00+08:00)")
        }
        let decoded = try decoder.decode(T.self, from: data)
        // Unknown fields inside nested objects (away.x): what the value does not
        // encode back was not read.
        if let again = try? JSONDecoder().decode(JSONValue.self, from: JSONEncoder().encode(decoded)), let path = firstUnknown(value, known: again, path: "") {
            throw APIError.invalidData("unknown field '\(path)'", field: path)
        }
        return decoded
    }

    /// The path of the first key of `sent` that `known` (the decoded value encoded
    /// again) does not have, looking into objects both have.
    static func firstUnknown(_ sent: JSONValue, known: JSONValue, path: String) -> String? {
        switch (sent, known) {
        case (.object(let s), .object(let k)):
            for key in s.keys.sorted() {
                let p = path.isEmpty ? key : "\(path).\(key)"
                guard let inner = k[key] else { return p }
                if let found = firstUnknown(s[key]!, known: inner, path: p) { return found }
            }
        case (.array(let s), .array(let k)) where s.count == k.count:
            for (i, pair) in zip(s, k).enumerated() { if let found = firstUnknown(pair.0, known: pair.1, path: "\(path)[\(i)]") { return found } }
        default: break
        }
        return nil
    }

    /// The path of the first explicit null (`away.backAt`, `lines[2]`).
    static func firstNull(_ value: JSONValue, path: String) -> String? {
        switch value {
        case .null: return path
        case .object(let o):
            for key in o.keys.sorted() {
                if let p = firstNull(o[key]!, path: path.isEmpty ? key : "\(path).\(key)") { return p }
            }
        case .array(let a):
            for (i, v) in a.enumerated() { if let p = firstNull(v, path: "\(path)[\(i)]") { return p } }
        default: break
        }
        return nil
    }

    private static func describe(_ error: any Error) -> String {
        if case DecodingError.dataCorrupted(let c) = error {
            return (c.underlyingError.map { "\($0)" } ?? c.debugDescription)
        }
        return "\(error)"
    }
}

extension Parameters {
    func deviceID() throws -> DeviceID {
        let raw = get("id") ?? ""
        guard let id = DeviceID(raw) else { throw APIError.notFound("no device '\(raw)'") }
        return id
    }
}
