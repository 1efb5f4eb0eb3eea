import DeviceKit
import Foundation
import HallAPIModels
import HallStore

extension Hall {
    /// The figures of `date` (`YYYY-MM-DD`, the hall's day).
    public func stats(date: String) async throws -> HallStats {
        let tickets = try await database.tickets(day: date).map(Self.ticket)
        var ratings: [Rating] = []
        for t in tickets where t.state == .done {
            if let r = try await database.rating(ticket: t.id) { ratings.append(Self.rating(r)) }
        }
        return HallStats.compute(date: date, tickets: tickets, ratings: ratings)
    }
}
