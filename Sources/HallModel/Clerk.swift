import Foundation

/// A clerk of the hall's roster, by staff number: who a window's calls, ratings and
/// statistics belong to. Removed clerks stay (with `removedAt`): their history does.
public struct Clerk: Sendable, Codable, Equatable {
    public var staffId: String
    public var name: String
    public var unit: String?
    public var title: String?
    public var phone: String?
    /// A file under the state folder's `photos/`, shown on the window's screen.
    public var photo: String?
    /// 党员亮明身份: shown on the clerk's card.
    public var partyMember: Bool
    /// The services the clerk may serve; empty: every service.
    public var services: [String]
    public var removedAt: Date?

    public init(
        staffId: String, name: String, unit: String? = nil, title: String? = nil, phone: String? = nil, photo: String? = nil, partyMember: Bool = false,
        services: [String] = [], removedAt: Date? = nil
    ) {
        self.staffId = staffId
        self.name = name
        self.unit = unit
        self.title = title
        self.phone = phone
        self.photo = photo
        self.partyMember = partyMember
        self.services = services
        self.removedAt = removedAt
    }

    /// The card a window shows while the clerk is signed in there.
    public var card: ClerkCard {
        ClerkCard(name: name, unit: unit, title: title, phone: phone, photo: photo, staffId: staffId, partyMember: partyMember ? true : nil)
    }

    /// `S001`, `0421`, `zhang.wei`: letters, digits, `.`, `-`, `_`, 1 to 32.
    public static func isValidStaffId(_ s: String) -> Bool {
        (1...32).contains(s.count) && s.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "." || $0 == "-" || $0 == "_") }
    }
}

/// Where the roster is kept: with the hall (SQLite on one PC, PostgreSQL when shared).
public protocol RosterStore: Sendable {
    /// Stores (or replaces) a clerk; a removal is a clerk with `removedAt`.
    func saveClerk(_ clerk: Clerk) async throws
    /// Every clerk the hall ever had, removed ones included.
    func clerks() async throws -> [Clerk]
}
