import Foundation
import HallModel

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
    /// The service; with an appointment, may be left out (the appointment's).
    public var service: String?
    public var priority: TicketPriority?
    public var appointment: String?
    public var print: Bool?

    public init(service: String?, priority: TicketPriority? = nil, appointment: String? = nil, print: Bool? = nil) {
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
    /// The booking system's code; the hall gives one when it is left out.
    public var code: String?
    public var service: String
    /// The hall's day (`2026-12-03`) and the slot's start on it (`09:30`); or `slot`
    /// alone as an ISO 8601 time.
    public var day: String?
    public var slot: String
    /// The citizen: stored masked (张*丰, 138****5678).
    public var name: String?
    public var phone: String?

    public init(code: String? = nil, service: String, day: String? = nil, slot: String, name: String? = nil, phone: String? = nil) {
        self.code = code
        self.service = service
        self.day = day
        self.slot = slot
        self.name = name
        self.phone = phone
    }
}

/// `POST /v1/tickets/{ticket}/notice`: prints the one-time notice on a window's A4 printer.
public struct NoticeRequest: Sendable, Codable, Equatable {
    /// The window whose printer prints it (default: the ticket's).
    public var window: Int?
    public init(window: Int? = nil) { self.window = window }
}

/// `PUT /v1/clerks/{staffId}`: a clerk of the roster (the staff id is the path's).
public struct ClerkRequest: Sendable, Codable, Equatable {
    public var name: String
    public var unit: String?
    public var title: String?
    public var phone: String?
    /// A file under the state folder's `photos/`.
    public var photo: String?
    public var partyMember: Bool?
    /// Services the clerk may serve; absent or empty: every service.
    public var services: [String]?

    public init(name: String, unit: String? = nil, title: String? = nil, phone: String? = nil, photo: String? = nil, partyMember: Bool? = nil, services: [String]? = nil) {
        self.name = name
        self.unit = unit
        self.title = title
        self.phone = phone
        self.photo = photo
        self.partyMember = partyMember
        self.services = services
    }
}

/// `POST /v1/windows/{n}/sign-in`: the clerk's staff id; absent: the one the calling
/// workstation's Unix user is bound to (`[hall.workstations]`).
public struct SignInRequest: Sendable, Codable, Equatable {
    public var staffId: String?
    public init(staffId: String? = nil) { self.staffId = staffId }
}

/// `POST /v1/ledger`: a request the hall could not settle (办不成事).
public struct LedgerRequest: Sendable, Codable, Equatable {
    public var matter: String
    /// The citizen's phone or name: stored masked.
    public var contact: String?
    public var reason: String
    public var window: Int?
    /// The clerk's; default: the one signed in at `window`.
    public var staffId: String?
    /// Who takes the matter over.
    public var handler: String?

    public init(matter: String, contact: String? = nil, reason: String, window: Int? = nil, staffId: String? = nil, handler: String? = nil) {
        self.matter = matter
        self.contact = contact
        self.reason = reason
        self.window = window
        self.staffId = staffId
        self.handler = handler
    }
}

/// `PUT /v1/ledger/{id}`: how the matter was resolved.
public struct LedgerResolution: Sendable, Codable, Equatable {
    public var resolution: String
    public var resolvedBy: String?

    public init(resolution: String, resolvedBy: String? = nil) {
        self.resolution = resolution
        self.resolvedBy = resolvedBy
    }
}

/// `PUT /v1/follow-ups/{id}`: an owner, and the result with `close`.
public struct FollowUpUpdate: Sendable, Codable, Equatable {
    public var owner: String?
    /// 整改结果: required to close.
    public var result: String?
    public var close: Bool?
    public var closedBy: String?

    public init(owner: String? = nil, result: String? = nil, close: Bool? = nil, closedBy: String? = nil) {
        self.owner = owner
        self.result = result
        self.close = close
        self.closedBy = closedBy
    }
}
