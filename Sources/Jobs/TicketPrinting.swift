import DeviceKit
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

/// How tickets become print documents on this halld: each ESC/POS printer's layout
/// (`[device.ticket]`), the hall's name and time zone. The print route (`{"ticket": …}`)
/// and the kiosk's own tickets both go through it.
public struct TicketPrinting: Sendable {
    public var layouts: [DeviceID: TicketLayout]
    public var hallName: String?
    public var timeZone: TimeZone

    public init(layouts: [DeviceID: TicketLayout] = [:], hallName: String? = nil, timeZone: TimeZone = .current) {
        self.layouts = layouts
        self.hallName = hallName
        self.timeZone = timeZone
    }

    /// The ESC/POS document of `ticket` for `printer`; a field the layout cannot fill is named.
    public func document(_ ticket: TicketContent, for printer: DeviceID, now: Date = Date()) throws(TicketTemplate.RenderError) -> PrintDocument {
        let bytes = try TicketRendering.render(ticket, layout: layouts[printer] ?? TicketLayout(), hallName: hallName, timeZone: timeZone, now: now)
        return PrintDocument(format: "escpos", data: Data(bytes), title: "ticket \(ticket.number)")
    }
}
