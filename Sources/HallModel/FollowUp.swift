import Foundation
import DeviceKit

/// A bad rating's follow-up (差评整改): every 不满意 or 非常不满意 opens one, with the clerk,
/// the ticket and a deadline some working days later; someone owns it, and it is closed
/// with its result and who closed it.
public struct FollowUp: Sendable, Codable, Equatable {
    public enum State: String, Sendable, Codable, CaseIterable { case open, closed }

    public var id: String
    public var ticket: String
    public var number: String
    public var service: String
    public var window: Int
    public var staffId: String?
    public var clerk: String?
    public var level: RatingLevel
    public var ratedAt: Date
    /// The end of the last working day it may take.
    public var deadline: Date
    public var owner: String?
    public var state: State
    public var result: String?
    public var closedAt: Date?
    public var closedBy: String?
    /// `follow-up.overdue` was announced (once).
    public var overdueAnnounced: Bool

    public init(id: String, rating: Rating, level: RatingLevel, deadline: Date) {
        self.id = id
        self.ticket = rating.ticket
        self.number = rating.number
        self.service = rating.service
        self.window = rating.window
        self.staffId = rating.staffId
        self.clerk = rating.clerk
        self.level = level
        self.ratedAt = rating.time
        self.deadline = deadline
        self.state = .open
        self.overdueAnnounced = false
    }

    public func isOverdue(at now: Date) -> Bool { state == .open && now >= deadline }

    /// Whether closed within its deadline.
    public var closedOnTime: Bool? { closedAt.map { $0 < deadline } }

    public static func csv(_ items: [FollowUp], timeZone: TimeZone, now: Date) -> String {
        var table = CSVTable(
            header: [
                "id", "ticket", "number", "service", "window", "staff_id", "clerk", "level", "rated_at", "deadline", "owner", "state", "overdue", "result",
                "closed_at", "closed_by", "closed_on_time",
            ], timeZone: timeZone)
        for f in items {
            table.row([
                f.id, f.ticket, f.number, f.service, String(f.window), f.staffId ?? "", f.clerk ?? "", f.level.rawValue, table.time(f.ratedAt),
                table.time(f.deadline), f.owner ?? "", f.state.rawValue, f.isOverdue(at: now) ? "yes" : "", f.result ?? "", table.time(f.closedAt),
                f.closedBy ?? "", f.closedOnTime.map { $0 ? "yes" : "no" } ?? "",
            ])
        }
        return table.text
    }
}

/// Where follow-ups are kept: with the hall.
public protocol FollowUpStore: Sendable {
    func saveFollowUp(_ followUp: FollowUp) async throws
    /// Every follow-up, oldest first.
    func followUps() async throws -> [FollowUp]
}
