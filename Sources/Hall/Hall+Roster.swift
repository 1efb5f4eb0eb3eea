import DeviceKit
import Foundation
import HallModel

/// The roster (clerks by staff number) and who is signed in at which window. Once the
/// hall has a roster (one clerk not removed), a window calls only with a clerk signed
/// in, and its card (岗位牌) comes from the roster; a hall without one works with
/// cards typed by hand.
extension Hall {
    /// Clerks of the roster, removed ones only when asked.
    public func clerkList(includeRemoved: Bool = false) -> [Clerk] {
        roster.values.filter { includeRemoved || $0.removedAt == nil }.sorted { $0.staffId < $1.staffId }
    }

    var hasRoster: Bool { roster.values.contains { $0.removedAt == nil } }

    /// Adds or changes a clerk (a removed one is back). A window the clerk is signed in
    /// at shows the new card.
    public func putClerk(_ clerk: Clerk) async throws -> Clerk {
        guard Clerk.isValidStaffId(clerk.staffId) else {
            throw HallError.invalid("staff id \"\(clerk.staffId)\": letters, digits, '.', '-' and '_', 1 to 32", field: "staffId")
        }
        guard !clerk.name.trimmingCharacters(in: .whitespaces).isEmpty else { throw HallError.invalid("a clerk needs a name", field: "name") }
        for (i, code) in clerk.services.enumerated() where setup.service(code) == nil {
            throw HallError.invalid("no service '\(code)' (services: \(setup.services.map(\.code).joined(separator: ", ")))", field: "services[\(i)]")
        }
        var c = clerk
        c.removedAt = nil
        try await store.saveClerk(c)
        roster[c.staffId] = c
        await publish(NewEvent(type: "clerk.updated", data: try JSONValue(encoding: c)))
        for (n, w) in windows where w.clerk?.staffId == c.staffId {
            guard let config = setup.window(n) else { continue }
            var updated = w
            updated.clerk = c.card
            _ = try await commit(updated, config: config)
        }
        return c
    }

    /// Takes a clerk off the roster, keeping the record (their calls and ratings stay
    /// theirs). A clerk signed in somewhere signs out first.
    public func removeClerk(_ staffId: String) async throws -> Clerk {
        guard var c = roster[staffId], c.removedAt == nil else { throw HallError.notFound("no clerk '\(staffId)' in the roster", field: "staffId") }
        if let n = signedIn(staffId) { throw HallError.conflict("\(c.name) (\(staffId)) is signed in at window \(n): sign out first", field: "staffId") }
        c.removedAt = now()
        try await store.saveClerk(c)
        roster[staffId] = c
        await publish(NewEvent(type: "clerk.removed", data: try JSONValue(encoding: c)))
        return c
    }

    /// The window (of any halld of the hall) a clerk is signed in at.
    func signedIn(_ staffId: String) -> Int? {
        windowList().first { $0.clerk?.staffId == staffId }?.number
    }

    /// Signs a clerk of the roster in at a window of this halld: the window's card is
    /// theirs, and its calls carry their staff id.
    public func signIn(window n: Int, staffId: String) async throws -> HallWindow {
        var (config, w) = try localWindow(n)
        guard let c = roster[staffId], c.removedAt == nil else {
            throw HallError.notFound("no clerk '\(staffId)' in the roster (hallctl clerk list)", field: "staffId")
        }
        if w.clerk?.staffId == staffId { return w }
        if let other = w.clerk?.staffId {
            throw HallError.conflict("window \(n) is held by \(w.clerk!.name) (\(other)): they sign out first", field: "staffId")
        }
        if let elsewhere = signedIn(staffId) {
            throw HallError.conflict("\(c.name) (\(staffId)) is signed in at window \(elsewhere): sign out there first", field: "staffId")
        }
        w.clerk = c.card
        return try await commit(w, config: config)
    }

    /// Signs the window's clerk out; a window serving a citizen finishes first.
    public func signOut(window n: Int) async throws -> HallWindow {
        var (config, w) = try localWindow(n)
        guard w.clerk != nil else { throw HallError.notNow("nobody is signed in at window \(n)") }
        try ensureNotServing(w)
        w.clerk = nil
        return try await commit(w, config: config)
    }

    /// A roster change another halld of the hall made.
    func applyRemoteClerk(_ event: HallEvent) {
        guard let c = try? event.data.decode(as: Clerk.self) else {
            logger.warning("hall event \(event.seq) \(event.type) carries no clerk: not applied")
            return
        }
        roster[c.staffId] = c
    }
}
