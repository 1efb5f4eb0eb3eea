import DeviceKit
import HallAPIModels
import Hummingbird

/// An error the API answers with: an HTTP status and `{"error": {...}}` naming the
/// completion code, the device and the field at fault. It is Hummingbird's
/// `HTTPResponseError`, so whatever sees it (the metrics, the server) sees its status.
public struct APIError: HTTPResponseError, Sendable {
    public var status: HTTPResponse.Status
    public var body: ErrorResponse.Body
    /// Seconds for `Retry-After` (a 429).
    public var retryAfter: Int?

    public init(_ status: HTTPResponse.Status, _ code: CompletionCode, _ message: String, device: DeviceID? = nil, reasons: [String]? = nil, field: String? = nil) {
        self.status = status
        self.body = ErrorResponse.Body(code: code, message: message, device: device, reasons: reasons, field: field)
    }

    public static func invalidData(_ message: String, field: String? = nil) -> APIError {
        APIError(.badRequest, .invalidData, message, field: field)
    }

    public static func notFound(_ message: String) -> APIError {
        APIError(.notFound, .notFound, message)
    }

    public static func notAuthorized(_ message: String) -> APIError {
        APIError(.forbidden, .notAuthorized, message)
    }

    /// The response: `{"error": {...}}` with the status.
    public func response(from request: Request, context: some RequestContext) throws -> Response {
        AccessMiddleware.response(self)
    }

    /// The API's answer to an error a route threw: the hall's and the devices' errors with
    /// their statuses and fields, a request body that did not decode with its field path;
    /// nil for anything else.
    public init?(answering error: any Error) {
        switch error {
        case let e as APIError: self = e
        case let e as HallError: self.init(e)
        case let e as DeviceError: self.init(e)
        case let e as DecodingError: self.init(e)
        case HallStoreError.unavailable(let store, let reason):
            self.init(.serviceUnavailable, .hallStoreUnavailable, "the hall's store \(store) is unavailable: \(reason)")
        case let e as HallStoreError: self.init(.conflict, .conflict, e.description)
        default: return nil
        }
    }

    /// The HTTP status for a completion code.
    static func status(_ code: CompletionCode) -> HTTPResponse.Status {
        switch code {
        case .invalidData: .badRequest
        // The device cannot do this (a fault a display does not have, a scanner asked
        // to print): a conflict with what the device is, not a malformed request.
        case .unsupportedCommand: .conflict
        case .notFound: .notFound
        case .notAuthorized: .forbidden
        case .conflict, .sequenceError, .canceled: .conflict
        case .timeOut: .gatewayTimeout
        case .deviceNotReady, .hardwareError, .userError, .hallStoreUnavailable: .serviceUnavailable
        }
    }

    /// A refusal of the hall, with the request field it names.
    public init(_ error: HallError) {
        self.init(Self.status(error.code), error.code, error.message, field: error.field)
    }

    /// A device's error: the status of its completion code.
    public init(_ error: DeviceError) {
        let status = Self.status(error.code)
        // A device's invalidData message starts with the field it is about ("lines[1]: …").
        let field = error.code == .invalidData ? error.message.split(separator: ":").first.map(String.init).flatMap { $0.contains(" ") ? nil : $0 } : nil
        self.init(status, error.code, error.message, device: error.device, reasons: error.reasons.isEmpty ? nil : error.reasons, field: field)
    }

    /// A decoding failure, with the path of the field that failed.
    public init(_ error: DecodingError) {
        func path(_ keys: [any CodingKey]) -> String {
            keys.reduce("") { s, k in
                if let i = k.intValue { return s + "[\(i)]" }
                return s.isEmpty ? k.stringValue : s + "." + k.stringValue
            }
        }
        switch error {
        case .typeMismatch(let type, let c):
            self = .invalidData("field '\(path(c.codingPath))': expected \(Self.describe(type))", field: path(c.codingPath))
        case .valueNotFound(let type, let c):
            self = .invalidData("field '\(path(c.codingPath))': expected \(Self.describe(type)), got null", field: path(c.codingPath))
        case .keyNotFound(let key, let c):
            let p = path(c.codingPath + [key])
            self = .invalidData("field '\(p)' is required", field: p)
        case .dataCorrupted(let c):
            let p = path(c.codingPath)
            self = .invalidData(p.isEmpty ? "body is not valid JSON: \(c.debugDescription)" : "field '\(p)': \(c.debugDescription)", field: p.isEmpty ? nil : p)
        @unknown default:
            self = .invalidData("body could not be read: \(error)")
        }
    }

    private static func describe(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: "a string"
        case is Int.Type, is Int64.Type, is Int32.Type, is UInt32.Type: "an integer"
        case is Double.Type: "a number"
        case is Bool.Type: "true or false"
        default:
            String(describing: type).hasPrefix("Array") ? "an array" : String(describing: type).hasPrefix("Dictionary") ? "an object" : "a value of type \(type)"
        }
    }
}
