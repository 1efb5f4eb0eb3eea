import DeviceKit
import Foundation
import HallAPIModels
import HallStore

extension Hall {
    /// The figures of `date` (`YYYY-MM-DD`, the hall's day).
    public func stats(date: String) async throws -> HallStats {
        let tickets = try await database.tickets(day: date).map(Self.ticket)
        let ratings = try await database.ratings(day: date).map(Self.rating)
        return HallStats.compute(date: date, tickets: tickets, ratings: ratings)
    }
}
