import Foundation

/// A referral (首问负责): the clerk who first heard the citizen sent them on to the
/// service that handles their matter (a transfer), and it is written down who did.
public struct Referral: Sendable, Codable, Equatable {
    public var id: String
    public var ticket: String
    public var number: String
    public var at: Date
    public var fromService: String
    public var toService: String
    public var window: Int
    public var staffId: String?
    public var clerk: String?

    public init(id: String, ticket: String, number: String, at: Date, fromService: String, toService: String, window: Int, staffId: String?, clerk: String?) {
        self.id = id
        self.ticket = ticket
        self.number = number
        self.at = at
        self.fromService = fromService
        self.toService = toService
        self.window = window
        self.staffId = staffId
        self.clerk = clerk
    }
}

/// Where referrals are kept: with the hall.
public protocol ReferralStore: Sendable {
    func saveReferral(_ referral: Referral) async throws
    /// Referrals made in [from, to), oldest first.
    func referrals(from: Date, to: Date) async throws -> [Referral]
}
