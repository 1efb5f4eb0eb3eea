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
    /// 服务双岗: the staff ids of the service's A post and B post.
    public var postA: String?
    public var postB: String?

    public init(code: String, name: String, dailyCap: Int? = nil, opens: Int? = nil, closes: Int? = nil, postA: String? = nil, postB: String? = nil) {
        self.code = code
        self.name = name
        self.dailyCap = dailyCap
        self.opens = opens
        self.closes = closes
        self.postA = postA
        self.postB = postB
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
    /// The staff id of the clerk signed in at the window that called it (a hall with a roster).
    public var staffId: String?
    public var recalls: Int
    public var transferredFrom: String?
    public var printJob: String?
    public var printError: String?
    public var waitingAhead: Int?

    public var isAppointment: Bool { appointment != nil }

    public init(id: String, number: String, service: String, day: String, priority: TicketPriority, appointment: String? = nil, slot: Date? = nil, state: TicketState, issuedAt: Date, queuedAt: Date, calledAt: Date? = nil, finishedAt: Date? = nil, window: Int? = nil, clerk: String? = nil, recalls: Int, transferredFrom: String? = nil, printJob: String? = nil, printError: String? = nil, waitingAhead: Int? = nil, staffId: String? = nil) {
        self.staffId = staffId
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
