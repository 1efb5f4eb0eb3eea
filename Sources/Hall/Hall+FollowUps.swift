import DeviceKit
import Foundation
import HallModel

/// Bad ratings' follow-ups (差评整改): opened with the rating, owned, closed with a
/// result; one past its deadline is announced once (`follow-up.overdue`).
extension Hall {
    /// Opens the follow-up of a 不满意 or 非常不满意 rating (after it is stored).
    func openFollowUp(for rating: Rating) async {
        guard let level = rating.level, level == .dissatisfied || level == .veryDissatisfied else { return }
        let deadline = setup.calendar.deadline(after: rating.time, workingDays: setup.followUpWorkingDays, calendar: calendar)
        let f = FollowUp(id: "fu-" + UUID().uuidString.prefix(8).lowercased(), rating: rating, level: level, deadline: deadline)
        do {
            try await store.saveFollowUp(f)
            await publish(NewEvent(type: "follow-up.opened", data: try JSONValue(encoding: f)))
        } catch {
            // The rating is stored; its follow-up is the one thing missing: said loudly.
            logger.error("the follow-up of the \(level.label) rating of \(rating.number) could not be stored: \(error)", metadata: ["ticket": "\(rating.ticket)"])
        }
    }

    /// Follow-ups in a state: `open` (overdue ones included), `overdue`, `closed`, or all.
    public func followUpList(state: String?) async throws -> [FollowUp] {
        let all = try await store.followUps()
        let now = now()
        switch state {
        case nil: return all
        case "open": return all.filter { $0.state == .open }
        case "overdue": return all.filter { $0.isOverdue(at: now) }
        case "closed": return all.filter { $0.state == .closed }
        case let other?: throw HallError.invalid("state '\(other)' is not open, overdue or closed", field: "state")
        }
    }

    /// Gives a follow-up an owner, and closes it with its result (a result is required to close).
    public func updateFollowUp(_ id: String, owner: String?, result: String?, close: Bool, closedBy: String?) async throws -> FollowUp {
        guard var f = try await store.followUps().first(where: { $0.id == id }) else { throw HallError.notFound("no follow-up '\(id)'", field: "id") }
        guard f.state == .open else { throw HallError.conflict("\(id) was closed already\(f.closedBy.map { " by \($0)" } ?? "")", field: "id") }
        let result = result?.trimmingCharacters(in: .whitespacesAndNewlines)
        if close, result?.isEmpty ?? true { throw HallError.invalid("a follow-up is closed with its result (整改结果)", field: "result") }
        if !close, owner == nil, result == nil { throw HallError.invalid("nothing to change: give owner, or result with close", field: "owner") }
        if let owner { f.owner = owner.isEmpty ? nil : owner }
        if let result, !result.isEmpty { f.result = result }
        if close {
            f.state = .closed
            f.closedAt = now()
            f.closedBy = closedBy ?? f.owner
        }
        try await store.saveFollowUp(f)
        await publish(NewEvent(type: close ? "follow-up.closed" : "follow-up.updated", data: try JSONValue(encoding: f)))
        return f
    }

    /// Announces each open follow-up past its deadline, once. halld calls it every minute.
    @discardableResult
    public func announceOverdueFollowUps() async throws -> [FollowUp] {
        let now = now()
        var announced: [FollowUp] = []
        for var f in try await store.followUps() where f.isOverdue(at: now) && !f.overdueAnnounced {
            f.overdueAnnounced = true
            try await store.saveFollowUp(f)
            await publish(NewEvent(type: "follow-up.overdue", data: try JSONValue(encoding: f)))
            announced.append(f)
        }
        return announced
    }
}
