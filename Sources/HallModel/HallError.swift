import DeviceKit

/// Why the hall refused something: the completion code clients already know
/// (`notFound`, `invalidData`, `sequenceError`, `conflict`), a message a clerk can
/// read, and the request field at fault as a path (`service`, `away.reason`).
public struct HallError: Error, Sendable, Equatable, CustomStringConvertible {
    public var code: CompletionCode
    public var message: String
    public var field: String?

    public init(_ code: CompletionCode, _ message: String, field: String? = nil) {
        self.code = code
        self.message = message
        self.field = field
    }

    /// Nothing by that name or number (a service, a window, a ticket, an appointment).
    public static func notFound(_ message: String, field: String? = nil) -> HallError { HallError(.notFound, message, field: field) }
    /// The request itself is wrong, whatever the hall's state.
    public static func invalid(_ message: String, field: String? = nil) -> HallError { HallError(.invalidData, message, field: field) }
    /// Not now: the ticket or window is not in a state that allows it.
    public static func notNow(_ message: String, field: String? = nil) -> HallError { HallError(.sequenceError, message, field: field) }
    /// It was done already (a second rating, an appointment checked in twice).
    public static func conflict(_ message: String, field: String? = nil) -> HallError { HallError(.conflict, message, field: field) }

    public var description: String { field.map { "\(message) (field \($0))" } ?? message }
}
