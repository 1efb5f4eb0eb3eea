import DeviceKit
import Foundation

/// A 好差评 rating of one served ticket.
public struct Rating: Sendable, Codable, Equatable {
    public var ticket: String
    public var number: String
    public var service: String
    public var window: Int
    public var clerk: String?
    /// The staff id of the clerk who served the ticket (a hall with a roster).
    public var staffId: String?
    /// nil: not rated (the keypad timed out).
    public var level: RatingLevel?
    public var stars: Int?
    public var time: Date
    /// `evaluator` (the window's keypad) or the API's `channel`.
    public var channel: String

    public init(ticket: String, number: String, service: String, window: Int, clerk: String? = nil, level: RatingLevel? = nil, stars: Int? = nil, time: Date, channel: String, staffId: String? = nil) {
        self.staffId = staffId
        self.ticket = ticket
        self.number = number
        self.service = service
        self.window = window
        self.clerk = clerk
        self.level = level
        self.stars = stars
        self.time = time
        self.channel = channel
    }

}
