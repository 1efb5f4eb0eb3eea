import DeviceKit
import Foundation

/// A service the hall offers; its code prefixes ticket numbers (A001, A002 …).
public struct HallService: Sendable, Codable, Equatable {
    public var code: String
    public var name: String
    /// Tickets a day at most (nil: no cap).
    public var dailyCap: Int?
    /// Its own weekly hours and 延时服务 duty hours (nil: the hall calendar's).
    public var hours: [WeeklySpan]?
    public var duty: [WeeklySpan]?
    /// 服务双岗: the staff ids of the service's A post and B post.
    public var postA: String?
    public var postB: String?
    /// 限时办结: the promised longest wait (from the ticket to the call) and service
    /// (from the call to completion), in minutes.
    public var waitLimitMinutes: Int?
    public var serviceLimitMinutes: Int?
    /// 服务事项公开: what the citizen brings, how long it takes, what it costs, where it is done.
    public var catalog: ServiceCatalog?

    public init(
        code: String, name: String, dailyCap: Int? = nil, hours: [WeeklySpan]? = nil, duty: [WeeklySpan]? = nil, postA: String? = nil, postB: String? = nil,
        waitLimitMinutes: Int? = nil, serviceLimitMinutes: Int? = nil, catalog: ServiceCatalog? = nil
    ) {
        self.code = code
        self.name = name
        self.dailyCap = dailyCap
        self.hours = hours
        self.duty = duty
        self.postA = postA
        self.postB = postB
        self.waitLimitMinutes = waitLimitMinutes
        self.serviceLimitMinutes = serviceLimitMinutes
        self.catalog = catalog
    }
}

/// A service's public entry (服务事项公开), printed in its one-time notice (一次性告知).
public struct ServiceCatalog: Sendable, Codable, Equatable {
    /// 申请材料: each item as the citizen reads it (`居民身份证原件及复印件1份`).
    public var materials: [String]
    /// 办理时限: the legal and promised time limits, as published (`法定20个工作日，承诺5个工作日`).
    public var timeLimit: String?
    /// 收费标准 (`不收费`).
    public var fees: String?
    /// 办理地点 (`一楼3号窗口`).
    public var location: String?
    /// 设定依据 or anything else the notice says.
    public var notes: String?

    public init(materials: [String], timeLimit: String? = nil, fees: String? = nil, location: String? = nil, notes: String? = nil) {
        self.materials = materials
        self.timeLimit = timeLimit
        self.fees = fees
        self.location = location
        self.notes = notes
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
    /// 限时办结: the promises it went past, each announced once (`ticket.overdue`):
    /// `waiting` (not called within the service's wait limit), `service` (not completed
    /// within its service limit). nil: none.
    public var overdue: [String]?
    public var transferredFrom: String?
    public var printJob: String?
    public var printError: String?
    public var waitingAhead: Int?

    public var isAppointment: Bool { appointment != nil }

    public init(id: String, number: String, service: String, day: String, priority: TicketPriority, appointment: String? = nil, slot: Date? = nil, state: TicketState, issuedAt: Date, queuedAt: Date, calledAt: Date? = nil, finishedAt: Date? = nil, window: Int? = nil, clerk: String? = nil, recalls: Int, transferredFrom: String? = nil, printJob: String? = nil, printError: String? = nil, waitingAhead: Int? = nil, staffId: String? = nil, overdue: [String]? = nil) {
        self.overdue = overdue
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

extension Ticket {
    /// The ticket as an event's data: what `JSONValue(encoding:)` makes of it (times as
    /// `Timestamp`s, absent fields left out), built directly. Every ticket event carries
    /// one, and encoding to JSON and decoding it back was a tenth of an issue's time,
    /// inside its write transaction.
    public var jsonValue: JSONValue {
        var o: [String: JSONValue] = [
            "id": .string(id), "number": .string(number), "service": .string(service), "day": .string(day), "priority": .string(priority.rawValue),
            "state": .string(state.rawValue), "issuedAt": .string(Timestamp.string(issuedAt)), "queuedAt": .string(Timestamp.string(queuedAt)),
            "recalls": .number(Double(recalls)),
        ]
        o.reserveCapacity(21)
        func put(_ key: String, _ value: String?) { if let value { o[key] = .string(value) } }
        func put(_ key: String, _ value: Date?) { if let value { o[key] = .string(Timestamp.string(value)) } }
        func put(_ key: String, _ value: Int?) { if let value { o[key] = .number(Double(value)) } }
        put("appointment", appointment)
        put("slot", slot)
        put("calledAt", calledAt)
        put("finishedAt", finishedAt)
        put("window", window)
        put("clerk", clerk)
        put("staffId", staffId)
        if let overdue { o["overdue"] = .array(overdue.map(JSONValue.string)) }
        put("transferredFrom", transferredFrom)
        put("printJob", printJob)
        put("printError", printError)
        put("waitingAhead", waitingAhead)
        return .object(o)
    }
}
