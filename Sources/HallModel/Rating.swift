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

/// A booking a citizen checks in with its code (预约取号).
public struct Appointment: Sendable, Codable, Equatable {
    public var code: String
    public var service: String
    /// The slot's start.
    public var slot: Date
    /// The ticket it was checked in with (nil: not yet).
    public var ticket: String?

    public init(code: String, service: String, slot: Date, ticket: String? = nil) {
        self.code = code
        self.service = service
        self.slot = slot
        self.ticket = ticket
    }
}
