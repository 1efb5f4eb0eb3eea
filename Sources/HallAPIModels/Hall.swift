import DeviceKit
import Foundation

/// A service the hall offers; its code prefixes ticket numbers (A001, A002 …).
public struct HallService: Sendable, Codable, Equatable {
    public var code: String
    public var name: String
    /// Tickets a day at most (nil: no cap).
    public var dailyCap: Int?
    /// Opening hours in the hall's time zone, minutes after midnight (nil: always).
    public var opens: Int?
    public var closes: Int?

    public init(code: String, name: String, dailyCap: Int? = nil, opens: Int? = nil, closes: Int? = nil) {
        self.code = code
        self.name = name
        self.dailyCap = dailyCap
        self.opens = opens
        self.closes = closes
    }
}

public enum TicketPriority: String, Sendable, Codable, CaseIterable { case normal, green }

public enum TicketState: String, Sendable, Codable, CaseIterable { case waiting, called, serving, done, noShow }

/// A queue ticket as the API shows it.
public struct Ticket: Sendable, Codable, Equatable {
    public var id: String
    public var number: String
    public var service: String
    /// The hall's day (its time zone) the number belongs to: `2026-11-29`.
    public var day: String
    public var priority: TicketPriority
    public var appointment: String?
    /// An appointment's slot start.
    public var slot: Date?
    public var state: TicketState
    /// When the citizen took the ticket (kept across transfers).
    public var issuedAt: Date
    /// When it joined its current service's queue (issue, or transfer).
    public var queuedAt: Date
    public var calledAt: Date?
    public var finishedAt: Date?
    public var window: Int?
    public var clerk: String?
    public var recalls: Int
    public var transferredFrom: String?
    public var printJob: String?
    public var printError: String?
    public var waitingAhead: Int?

    public var isAppointment: Bool { appointment != nil }

    public init(id: String, number: String, service: String, day: String, priority: TicketPriority, appointment: String? = nil, slot: Date? = nil, state: TicketState, issuedAt: Date, queuedAt: Date, calledAt: Date? = nil, finishedAt: Date? = nil, window: Int? = nil, clerk: String? = nil, recalls: Int, transferredFrom: String? = nil, printJob: String? = nil, printError: String? = nil, waitingAhead: Int? = nil) {
        self.id = id
        self.number = number
        self.service = service
        self.day = day
        self.priority = priority
        self.appointment = appointment
        self.slot = slot
        self.state = state
        self.issuedAt = issuedAt
        self.queuedAt = queuedAt
        self.calledAt = calledAt
        self.finishedAt = finishedAt
        self.window = window
        self.clerk = clerk
        self.recalls = recalls
        self.transferredFrom = transferredFrom
        self.printJob = printJob
        self.printError = printError
        self.waitingAhead = waitingAhead
    }

}

/// A clerk's card at a window (岗位牌).
public struct ClerkCard: Sendable, Codable, Equatable {
    public var name: String
    public var unit: String?
    public var title: String?
    public var phone: String?
    public var photo: String?

    public init(name: String, unit: String? = nil, title: String? = nil, phone: String? = nil, photo: String? = nil) {
        self.name = name
        self.unit = unit
        self.title = title
        self.phone = phone
        self.photo = photo
    }
}

/// An away notice (去向留言).
public struct AwayNotice: Sendable, Codable, Equatable {
    public var reason: String
    public var contact: String?
    public var backAt: String?

    public init(reason: String, contact: String? = nil, backAt: String? = nil) {
        self.reason = reason
        self.contact = contact
        self.backAt = backAt
    }
}

public enum WindowState: String, Sendable, Codable, CaseIterable { case open, away, closed }

public struct HallWindow: Sendable, Codable, Equatable {
    public var number: Int
    public var state: WindowState
    public var away: AwayNotice?
    public var clerk: ClerkCard?
    public var services: [String]
    public var current: Ticket?

    public init(number: Int, state: WindowState, away: AwayNotice? = nil, clerk: ClerkCard? = nil, services: [String], current: Ticket? = nil) {
        self.number = number
        self.state = state
        self.away = away
        self.clerk = clerk
        self.services = services
        self.current = current
    }

}

/// A 好差评 rating of one served ticket.
public struct Rating: Sendable, Codable, Equatable {
    public var ticket: String
    public var number: String
    public var service: String
    public var window: Int
    public var clerk: String?
    /// nil: not rated (the keypad timed out).
    public var level: RatingLevel?
    public var stars: Int?
    public var time: Date
    /// `evaluator` (the window's keypad) or the API's `channel`.
    public var channel: String

    public init(ticket: String, number: String, service: String, window: Int, clerk: String? = nil, level: RatingLevel? = nil, stars: Int? = nil, time: Date, channel: String) {
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

/// `GET /v1/hall`: services, windows and how many wait for each service.
public struct HallSummary: Sendable, Codable, Equatable {
    public var name: String
    public var services: [HallService]
    public var windows: [HallWindow]
    public var waiting: [String: Int]

    public init(name: String, services: [HallService], windows: [HallWindow], waiting: [String: Int]) {
        self.name = name
        self.services = services
        self.windows = windows
        self.waiting = waiting
    }
}

/// `POST /v1/tickets`.
public struct IssueRequest: Sendable, Codable, Equatable {
    public var service: String
    public var priority: TicketPriority?
    public var appointment: String?
    public var print: Bool?

    public init(service: String, priority: TicketPriority? = nil, appointment: String? = nil, print: Bool? = nil) {
        self.service = service
        self.priority = priority
        self.appointment = appointment
        self.print = print
    }
}

/// `POST /v1/windows/{n}/transfer`.
public struct TransferRequest: Sendable, Codable, Equatable {
    public var service: String
    public init(service: String) { self.service = service }
}

/// `PUT /v1/windows/{n}/status`.
public struct WindowStatusRequest: Sendable, Codable, Equatable {
    public var state: WindowState
    public var away: AwayNotice?
    public init(state: WindowState, away: AwayNotice? = nil) {
        self.state = state
        self.away = away
    }
}

/// `POST /v1/tickets/{ticket}/rating`: a rating given another way than the window's keypad.
public struct RatingRequest: Sendable, Codable, Equatable {
    /// verySatisfied … veryDissatisfied, the Chinese label, or 1…5 stars.
    public var level: String
    /// Where the rating came from: `evaluator`, `app`, `sms`, `paper` ….
    public var channel: String?
    public init(level: String, channel: String? = nil) {
        self.level = level
        self.channel = channel
    }
}

/// `POST /v1/appointments`: a booking the citizen checks in with its code.
public struct AppointmentRequest: Sendable, Codable, Equatable {
    public var code: String
    public var service: String
    /// The slot's start, ISO 8601.
    public var slot: Date
    public init(code: String, service: String, slot: Date) {
        self.code = code
        self.service = service
        self.slot = slot
    }
}
