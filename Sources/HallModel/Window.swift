import DeviceKit
import Foundation

/// A clerk's card at a window (岗位牌).
public struct ClerkCard: Sendable, Codable, Equatable {
    public var name: String
    public var unit: String?
    public var title: String?
    public var phone: String?
    public var photo: String?
    /// The roster's staff number, when the clerk signed in (a card typed by hand has none).
    public var staffId: String?
    /// 党员: the card says so.
    public var partyMember: Bool?

    public init(name: String, unit: String? = nil, title: String? = nil, phone: String? = nil, photo: String? = nil, staffId: String? = nil, partyMember: Bool? = nil) {
        self.name = name
        self.unit = unit
        self.title = title
        self.phone = phone
        self.photo = photo
        self.staffId = staffId
        self.partyMember = partyMember
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
