import DeviceKit
import Foundation
import HallModel

/// What the displays show and the speakers say: a call on the window's display, the
/// last calls on the main display, the call said on the window's speaker or the
/// hall's; a window's state and clerk when it changes.
extension Hall {
    func announceCall(_ t: Ticket, window: HallWindowConfig) async {
        let text = "\(t.number) 请到\(window.number)号窗口"
        if let id = window.display { await show(id, [text], effect: .flash) }
        await showLastCall(t, window: window.number)
        if let speaker = window.speaker ?? setup.speaker { await say(t, window: window.number, on: speaker) }
    }

    /// A call, at a window of this halld or of another in a shared hall, on the main
    /// display (when this halld has it) among the last calls.
    func showLastCall(_ t: Ticket, window n: Int) async {
        lastCalls.insert("\(t.number)→\(n)号", at: 0)
        lastCalls = Array(lastCalls.prefix(4))
        await refreshMainDisplay()
    }

    /// The main display: the services no window serves now (服务双岗) first, then the last calls.
    func refreshMainDisplay() async {
        guard let main = setup.mainDisplay else { return }
        await show(main, unstaffedLines + lastCalls, effect: .static)
    }

    /// Queues the call on a speaker; the sound is played later, in the speaker's order.
    func say(_ t: Ticket, window n: Int, on speaker: DeviceID) async {
        let service = setup.service(t.service)?.name ?? t.service
        await announce?(speaker, SpokenCall(ticket: t.id, number: t.number, window: n, service: service, recall: t.recalls > 0))
    }

    func showStatus(_ w: HallWindow, config: HallWindowConfig) async {
        guard let id = config.display else { return }
        switch w.state {
        case .away:
            var lines = ["暂停服务: \(w.away?.reason ?? "")"]
            if let back = w.away?.backAt { lines.append("\(back) 回") } else if let contact = w.away?.contact { lines.append(contact) }
            await show(id, lines, effect: .scroll)
        case .closed:
            await show(id, ["\(w.number)号窗口 暂停服务"], effect: .static)
        case .open:
            if let c = w.clerk {
                await show(id, ["\(w.number)号窗口 \(c.name)", [c.title, c.unit].compactMap { $0 }.joined(separator: " ")], effect: .static)
            } else {
                await show(id, ["\(w.number)号窗口 欢迎办理"], effect: .static)
            }
        }
    }

    /// Shows lines within the display's lines and columns (a wide line scrolls); a
    /// display that fails is logged, and the hall goes on.
    func show(_ id: DeviceID, _ lines: [String], effect: DisplayEffect) async {
        guard let display = await registry.device(id) as? any QueueDisplay else { return }
        let caps = await registry.snapshot(id)?.capabilities
        let kept = Array(lines.filter { !$0.isEmpty }.prefix(caps?.lines ?? 1))
        var content = DisplayContent(lines: kept, effect: effect)
        if let columns = caps?.columns, kept.contains(where: { displayColumns($0) > columns }) { content.effect = .scroll }
        do {
            try await display.show(content)
        } catch {
            logger.warning("display \(id): \(error)")
        }
    }
}
