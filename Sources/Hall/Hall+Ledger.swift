import DeviceKit
import Foundation
import HallModel

/// The 办不成事 ledger: what the hall could not settle, written down with the reason,
/// the window and clerk, who took it over, and later the resolution.
extension Hall {
    /// Writes an entry; the contact is masked before it is stored. The clerk signed in
    /// at `window` is the entry's when no staff id is given.
    public func addLedgerEntry(matter: String, contact: String?, reason: String, window: Int?, staffId: String?, handler: String?) async throws -> LedgerEntry {
        let matter = matter.trimmingCharacters(in: .whitespacesAndNewlines), reason = reason.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !matter.isEmpty else { throw HallError.invalid("matter is empty: what did the citizen come for?", field: "matter") }
        guard !reason.isEmpty else { throw HallError.invalid("reason is empty: why could it not be settled? (the ledger needs it)", field: "reason") }
        if let window, windowList().first(where: { $0.number == window }) == nil {
            throw HallError.notFound("no window \(window)", field: "window")
        }
        var clerk: Clerk?
        if let staffId {
            guard let c = roster[staffId] else { throw HallError.notFound("no clerk '\(staffId)' in the roster", field: "staffId") }
            clerk = c
        } else if let window, let id = windowList().first(where: { $0.number == window })?.clerk?.staffId {
            clerk = roster[id]
        }
        let card = window.flatMap { n in windowList().first { $0.number == n }?.clerk }
        let entry = LedgerEntry(
            id: "ldg-" + UUID().uuidString.prefix(8).lowercased(), at: now(), matter: matter,
            contact: contact.flatMap { $0.trimmingCharacters(in: .whitespaces).isEmpty ? nil : LedgerEntry.masked($0) }, reason: reason, window: window,
            staffId: clerk?.staffId, clerk: clerk?.name ?? card?.name, handler: handler?.isEmpty == true ? nil : handler)
        try await store.saveLedgerEntry(entry)
        await publish(NewEvent(type: "ledger.added", data: try JSONValue(encoding: entry)))
        return entry
    }

    /// Records how an entry was resolved and by whom; a resolved entry stays resolved.
    public func resolveLedgerEntry(_ id: String, resolution: String, by: String?) async throws -> LedgerEntry {
        let resolution = resolution.trimmingCharacters(in: .whitespacesAndNewlines)
        guard var entry = try await store.ledgerEntry(id) else { throw HallError.notFound("no ledger entry '\(id)'", field: "id") }
        guard !resolution.isEmpty else { throw HallError.invalid("resolution is empty: how was it settled?", field: "resolution") }
        guard entry.state == .open else {
            throw HallError.conflict("\(id) was resolved already\(entry.resolvedBy.map { " by \($0)" } ?? ""): \(entry.resolution ?? "")", field: "id")
        }
        entry.state = .resolved
        entry.resolution = resolution
        entry.resolvedAt = now()
        entry.resolvedBy = by?.isEmpty == true ? nil : by
        try await store.saveLedgerEntry(entry)
        await publish(NewEvent(type: "ledger.resolved", data: try JSONValue(encoding: entry)))
        return entry
    }

    /// Entries of the days `from` … `to` (YYYY-MM-DD, the hall's days, both included).
    public func ledger(from: String, to: String, state: LedgerEntry.State?) async throws -> [LedgerEntry] {
        guard let start = dayStart(from) else { throw HallError.invalid("from: expected YYYY-MM-DD, found \(from)", field: "from") }
        guard let last = dayStart(to) else { throw HallError.invalid("to: expected YYYY-MM-DD, found \(to)", field: "to") }
        guard last >= start else { throw HallError.invalid("to (\(to)) is before from (\(from))", field: "to") }
        let end = calendar.date(byAdding: .day, value: 1, to: last)!
        return try await store.ledger(from: start, to: end).filter { state == nil || $0.state == state }
    }

    /// The start of a day (`YYYY-MM-DD`) in the hall's time zone.
    nonisolated func dayStart(_ day: String) -> Date? {
        let parts = day.split(separator: "-").compactMap { Int($0) }
        guard day.count == 10, parts.count == 3, (1...12).contains(parts[1]), (1...31).contains(parts[2]) else { return nil }
        guard let d = calendar.date(from: DateComponents(year: parts[0], month: parts[1], day: parts[2])), self.day(d) == day else { return nil }
        return d
    }
}
