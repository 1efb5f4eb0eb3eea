import DeviceKit
import Foundation
import HallAPIModels
import Hummingbird

/// The request context's decoder (`request.decode(as:context:)`): every JSON body
/// through `StrictJSON`, at most 64 KiB.
public struct StrictRequestDecoder: RequestDecoder {
    public init() {}

    public func decode<T: Decodable>(_ type: T.Type, from request: Request, context: some RequestContext) async throws -> T {
        let buffer = try await request.collectBody(upTo: 64 * 1024, what: "request body")
        return try StrictJSON.decode(type, from: Data(buffer: buffer))
    }
}

/// A request a route also takes with no body at all: this value stands for it.
public protocol EmptyBodyDefault {
    static var emptyBody: Self { get }
}

extension ScanJobRequest: EmptyBodyDefault { public static var emptyBody: ScanJobRequest { ScanJobRequest() } }
extension RatingJobRequest: EmptyBodyDefault { public static var emptyBody: RatingJobRequest { RatingJobRequest() } }
extension SignInRequest: EmptyBodyDefault { public static var emptyBody: SignInRequest { SignInRequest() } }
extension RecordingRequest: EmptyBodyDefault { public static var emptyBody: RecordingRequest { RecordingRequest() } }
extension NoticeRequest: EmptyBodyDefault { public static var emptyBody: NoticeRequest { NoticeRequest() } }
extension HealthCheckRequest: EmptyBodyDefault { public static var emptyBody: HealthCheckRequest { HealthCheckRequest(level: .internal) } }

/// How every JSON request body is read: a JSON object, no unknown fields, no nulls,
/// the wrong field named by its path. A pure function, so the fuzzer can drive it
/// with any bytes.
public enum StrictJSON {
    /// Whether a body is empty (or only white space).
    static func isBlank(_ data: Data) -> Bool { data.allSatisfy { $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 } }

    /// Reads `T` from a JSON object. The fields `T` has are found from `T` itself: a
    /// body key that the decoded value does not encode back was not read, and is
    /// refused with its path. An empty body is `T.emptyBody` for a type that has one.
    public static func decode<T: Decodable>(_ type: T.Type, from body: Data) throws -> T {
        if isBlank(body) {
            if let empty = T.self as? any EmptyBodyDefault.Type, let value = empty.emptyBody as? T { return value }
            throw APIError.invalidData("request body is empty; expected a JSON object")
        }
        let value: JSONValue
        do {
            value = try JSONValue.parse(body)
        } catch {
            throw APIError.invalidData("body is not valid JSON: \(error)")
        }
        guard case .object(let object) = value else { throw APIError.invalidData("body must be a JSON object") }
        if let path = firstNull(value, path: "") {
            throw APIError.invalidData("\(path) is null: leave an optional field out instead", field: path)
        }
        // A kiosk's ticket request and the like, when the body is only their own fields.
        if let plain = T.self as? any PlainJSONRequest.Type, let value = plain.init(plain: object) as? T { return value }
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
        let decoded: T
        do {
            decoded = try decoder.decode(T.self, from: body)
        } catch DecodingError.keyNotFound(let key, let c) {
            // A misspelt field shows here as the missing one: say what the body had.
            let p = (c.codingPath + [key]).map(\.stringValue).joined(separator: ".")
            let sent = c.codingPath.isEmpty ? object.keys.sorted() : []
            throw APIError.invalidData("field '\(p)' is required" + (sent.isEmpty ? "" : " (the body has \(sent.joined(separator: ", ")))"), field: p)
        } catch let error as DecodingError {
            // Answered here, with the field's path: Hummingbird would make it a bare 400.
            throw APIError(error)
        }
        // What the value does not encode back was not read: an unknown field, at any depth.
        if let encodable = decoded as? any Encodable,
            let again = try? JSONValue.parse(JSONEncoder().encode(encodable)),
            let path = firstUnknown(value, known: again, path: "")
        {
            let expected = path.contains(".") || path.contains("[") ? "" : "; expected \(fieldNames(of: decoded).joined(separator: ", "))"
            throw APIError.invalidData("unknown field '\(path)'\(expected)", field: path)
        }
        return decoded
    }

    /// The stored properties of a decoded request, as its JSON fields are named.
    static func fieldNames(of value: Any) -> [String] {
        Mirror(reflecting: value).children.compactMap(\.label).map { $0.hasPrefix("_") ? String($0.dropFirst()) : $0 }
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
}

/// A request type read straight from the parsed JSON object when the body holds only
/// its own fields, each of its own type: no JSONDecoder, and no encoding of the value
/// back to find unknown fields (together two thirds of reading a ticket issue's body,
/// counted with callgrind). Any other body, nil here, goes the general way, which
/// words every refusal as before.
protocol PlainJSONRequest {
    init?(plain object: [String: JSONValue])
}

extension IssueRequest: PlainJSONRequest {
    init?(plain o: [String: JSONValue]) {
        var (service, appointment, priority, print, read): (String?, String?, TicketPriority?, Bool?, Int) = (nil, nil, nil, nil, 0)
        if let v = o["service"] {
            guard case .string(let s) = v else { return nil }
            (service, read) = (s, read + 1)
        }
        if let v = o["appointment"] {
            guard case .string(let s) = v else { return nil }
            (appointment, read) = (s, read + 1)
        }
        if let v = o["priority"] {
            guard case .string(let s) = v, let p = TicketPriority(rawValue: s) else { return nil }
            (priority, read) = (p, read + 1)
        }
        if let v = o["print"] {
            guard case .bool(let b) = v else { return nil }
            (print, read) = (b, read + 1)
        }
        // A key not read is a field IssueRequest does not have.
        guard read == o.count else { return nil }
        self.init(service: service, priority: priority, appointment: appointment, print: print)
    }
}
