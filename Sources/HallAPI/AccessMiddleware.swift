import DeviceKit
import Foundation
import HallAPIModels
import HallStore
import Hummingbird

/// Gives every request its caller's identity and role, and turns every error into
/// the API's JSON error body. Denials are written to the event log (`access.denied`).
struct AccessMiddleware: RouterMiddleware {
    typealias Context = HallRequestContext
    let services: APIServices

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var context = context
        switch context.channel.localAddress {
        case .v4?, .v6?:
            // The TCP listener (loopback only): no peer credentials, its configured role.
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
        } catch let error as APIError {
            if error.body.code == .notAuthorized { await audit(request, context, error) }
            return Self.response(error)
        } catch let error as DeviceError {
            return Self.response(APIError(error))
        } catch let error as DecodingError {
            return Self.response(APIError(error))
        } catch let error as HTTPError {
            let code: CompletionCode = error.status == .notFound ? .notFound : error.status == .methodNotAllowed ? .unsupportedCommand : .invalidData
            return Self.response(APIError(error.status, code, error.body ?? error.status.reasonPhrase))
        } catch {
            context.logger.error("unexpected error on \(request.method) \(request.uri.path): \(error)")
            return Self.response(APIError(.internalServerError, .hardwareError, "internal error: \(error)"))
        }
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
    func decodeStrict<T: Decodable>(_ type: T.Type, fields: Set<String>, emptyAllowed: Bool = false) async throws -> T {
        let buffer = try await collectBody(upTo: 64 * 1024, what: "request body")
        return try StrictJSON.decode(type, from: Data(buffer: buffer), fields: fields, emptyAllowed: emptyAllowed)
    }
}

/// How every JSON request body is read: a JSON object, no unknown fields, the
/// wrong field named. A pure function, so the fuzzer can drive it with any bytes.
public enum StrictJSON {
    public static func decode<T: Decodable>(_ type: T.Type, from body: Data, fields: Set<String>, emptyAllowed: Bool = false) throws -> T {
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
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return try decoder.decode(T.self, from: data)
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
