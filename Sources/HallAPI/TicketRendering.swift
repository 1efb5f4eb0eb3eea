import Foundation
import HallAPIModels
import WireProtocols

/// The one way a queue ticket becomes ESC/POS bytes, for the print route and for the
/// kiosk's own tickets alike: the printer's layout, the hall's name and the local
/// time filled in when the ticket carries none.
public enum TicketRendering {
    public static func render(
        _ ticket: TicketContent, layout: TicketLayout, hallName: String?, timeZone: TimeZone = .current, now: Date = Date()
    ) throws(TicketTemplate.RenderError) -> [UInt8] {
        var values = ticket.values
        if values["hall"] == nil, let hallName { values["hall"] = hallName }
        if values["time"] == nil { values["time"] = localTime(now, timeZone: timeZone) }
        values["service"] = values["service"] ?? ""
        return try layout.render(TicketFields(values))
    }

    /// `2026-11-30 08:05` in `timeZone`, as tickets print the time.
    public static func localTime(_ date: Date, timeZone: TimeZone = .current) -> String {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = timeZone
        f.dateFormat = "yyyy-MM-dd HH:mm"
        return f.string(from: date)
    }
}
