import DeviceKit
import Foundation
import HallModel

/// A hall shared by several hallds (one PostgreSQL store): what another halld did
/// reaches this one as the hall's event, and is applied here, to the day's state and
/// to this halld's devices: a call at another PC's window shows on the main display
/// wired to this one; a rating given elsewhere stops this keypad asking.
extension Hall {
    /// Applies an event another halld of the hall published. Events come in hall
    /// sequence order, each carrying the whole ticket or window, so applying one sets
    /// the state it describes.
    public func applyRemote(_ event: HallEvent) async {
        rollDay()
        // Loaded already (the day was loaded after this event was committed).
        guard event.seq > loadedThrough else { return }
        switch event.type {
        case "ticket.overdue":
            applyRemoteOverdue(event)
        case let type where type.hasPrefix("ticket."):
            guard let t = try? event.data.decode(as: Ticket.self) else {
                logger.warning("hall event \(event.seq) \(event.type) carries no ticket: not applied")
                return
            }
            applyRemote(ticket: t)
            if type == "ticket.issued" { await checkStaffing() }
            if (type == "ticket.called" || type == "ticket.recalled"), let n = t.window, windows[n] == nil {
                await showLastCall(t, window: n)
                // The hall's speaker, when it is wired to this PC, says the other PCs' calls.
                if let speaker = setup.speaker { await say(t, window: n, on: speaker) }
            }
        case "window.status":
            guard let w = try? event.data.decode(as: HallWindow.self) else {
                logger.warning("hall event \(event.seq) window.status carries no window: not applied")
                return
            }
            // This halld's own windows are changed here only.
            guard windows[w.number] == nil else { return }
            var kept = w
            kept.current = w.current.flatMap { tickets[$0.id] } ?? w.current
            remoteWindows[w.number] = kept
            await checkStaffing()
        case "clerk.updated", "clerk.removed":
            applyRemoteClerk(event)
        case EventType.keypadRating:
            // Rated on another PC (an app, another window's keypad): this keypad stops asking.
            if let ticket = event.data["ticket"]?.stringValue { ratingTasks[ticket]?.cancel() }
        default:
            break
        }
    }

    /// Adds the day's tickets the store has and this halld does not know: a ticket whose
    /// halld was killed between storing it and announcing it. Known tickets are left
    /// as they are (their events are on the way, or applied).
    public func addUnannounced() async throws {
        rollDay()
        let day = today
        for t in try await store.tickets(day: day) where tickets[t.id] == nil && t.day == today {
            logger.notice("ticket \(t.number) is in the hall's store without its event: added")
            put(t)
        }
    }

    /// Publishes the state of each of this halld's windows (`window.status`): how the
    /// other hallds of the hall learn the windows of one that joins.
    public func announceWindows() async {
        for w in windows.values.sorted(by: { $0.number < $1.number }) { await publish(window: w) }
    }

    private func applyRemote(ticket t: Ticket) {
        guard t.day == today else { return }
        var t = t
        t.waitingAhead = nil
        put(t)
        // The window that serves it now, and the one it left.
        for (n, w) in remoteWindows where w.current?.id == t.id && (t.window != n || !t.state.isAtWindow) { remoteWindows[n]?.current = nil }
        if let n = t.window, t.state.isAtWindow, remoteWindows[n] != nil { remoteWindows[n]?.current = t }
    }
}
