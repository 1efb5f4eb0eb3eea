import DeviceKit
import Foundation
import HallModel

/// Windows: open, away (去向留言) or closed, the clerk card (岗位牌), and the caller
/// keys of a window keypad.
extension Hall {
    public func setStatus(window n: Int, state: WindowState, away: AwayNotice?) async throws -> HallWindow {
        var (config, w) = try localWindow(n)
        if state == .away {
            guard let away, !away.reason.isEmpty else { throw HallError.invalid("away needs a reason (去向留言)", field: "away.reason") }
            w.away = away
        } else {
            w.away = nil
        }
        if state != .open { try ensureNotServing(w) }
        w.state = state
        return try await commit(w, config: config)
    }

    /// Keeps a change of a window of this halld: stored, shown on its display, announced,
    /// and the services' staffing looked at again.
    func commit(_ w: HallWindow, config: HallWindowConfig) async throws -> HallWindow {
        windows[w.number] = w
        try await storeWindow(w)
        await showStatus(w, config: config)
        await publish(window: w)
        await checkStaffing()
        return w
    }

    /// Refuses a change that would leave the citizen at the window without a clerk.
    func ensureNotServing(_ w: HallWindow) throws(HallError) {
        if let t = w.current, t.state.isAtWindow {
            throw .notNow("window \(w.number) is serving \(t.number): complete or transfer it first")
        }
    }

    /// Sets the clerk at a window (岗位牌); a backup clerk on an open window is a clerk change.
    public func setClerk(window n: Int, _ card: ClerkCard) async throws -> HallWindow {
        var (config, w) = try localWindow(n)
        guard !card.name.isEmpty else { throw HallError.invalid("a clerk card needs a name", field: "name") }
        if hasRoster {
            throw HallError.conflict("the hall has a roster: a clerk signs in with their staff id (POST /v1/windows/\(n)/sign-in), the card comes from the roster", field: "name")
        }
        w.clerk = card
        // A staff id comes with a sign-in, never with a card typed by hand.
        w.clerk?.staffId = nil
        return try await commit(w, config: config)
    }

    /// A caller key pressed on a window's keypad: `call` calls the next ticket,
    /// `recall` recalls it, like the clerk program would.
    public func key(_ key: String, on device: DeviceID) async {
        guard let window = setup.windows.first(where: { $0.keypad == device }) else { return }
        do {
            switch key {
            case "call": _ = try await callNext(window: window.number)
            case "recall": _ = try await recall(window: window.number)
            default: return
            }
        } catch {
            logger.notice("\(key) key on window \(window.number): \(error)")
        }
    }
}
