import Foundation

/// A booking (预约): a service, a slot of a day, the citizen (name and phone stored
/// masked), and a code the citizen checks in with once, within the hall's check-in
/// window around the slot's start.
///
///     booked ──check-in──► checkedIn
///       │ └──cancel──► cancelled
///       └──slot over, not checked in──► noShow
public struct Appointment: Sendable, Codable, Equatable {
    public enum State: String, Sendable, Codable, CaseIterable { case booked, checkedIn, cancelled, noShow }

    public var code: String
    public var service: String
    /// The slot's start and its length.
    public var slot: Date
    public var minutes: Int
    /// Masked before stored: 张*丰, 138****5678.
    public var name: String?
    public var phone: String?
    public var state: State
    /// The ticket it was checked in with.
    public var ticket: String?
    public var createdAt: Date?
    /// When it was cancelled or became a no-show, and who cancelled it.
    public var closedAt: Date?
    public var closedBy: String?

    public init(
        code: String, service: String, slot: Date, minutes: Int = 30, name: String? = nil, phone: String? = nil, state: State = .booked, ticket: String? = nil,
        createdAt: Date? = nil
    ) {
        self.code = code
        self.service = service
        self.slot = slot
        self.minutes = minutes
        self.name = name
        self.phone = phone
        self.state = state
        self.ticket = ticket
        self.createdAt = createdAt
    }

    public var slotEnd: Date { slot.addingTimeInterval(Double(minutes) * 60) }

    /// A code the hall gives when the booking system gives none: 8 digits, read aloud easily.
    public static func newCode() -> String { String(format: "%08d", Int.random(in: 0..<100_000_000)) }

    public static func isValidCode(_ code: String) -> Bool {
        (1...32).contains(code.count) && code.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") }
    }

    /// The appointments as CSV, times in `timeZone`.
    public static func csv(_ items: [Appointment], timeZone: TimeZone) -> String {
        var table = CSVTable(header: ["code", "service", "slot", "minutes", "name", "phone", "state", "ticket", "created_at", "closed_at", "closed_by"], timeZone: timeZone)
        for a in items {
            table.row([
                a.code, a.service, table.time(a.slot), String(a.minutes), a.name ?? "", a.phone ?? "", a.state.rawValue, a.ticket ?? "", table.time(a.createdAt),
                table.time(a.closedAt), a.closedBy ?? "",
            ])
        }
        return table.text
    }
}

/// Where appointments are kept: with the hall. A check-in is part of `issueTicket`.
public protocol AppointmentStore: Sendable {
    /// Registers a new appointment; a code registered before (in any state) is
    /// `appointmentExists`, and nothing is written.
    func addAppointment(_ appointment: Appointment) async throws
    /// Stores an appointment's new state (cancelled, noShow) if it is still in state
    /// `previous`: otherwise `appointmentChanged`, and nothing is written.
    func updateAppointment(_ appointment: Appointment, from previous: Appointment.State) async throws
    func appointment(_ code: String) async throws -> Appointment?
    /// Appointments whose slot starts in [from, to), by slot.
    func appointments(from: Date, to: Date) async throws -> [Appointment]
}

/// A one-time notice (一次性告知) as printed and archived with its ticket.
public struct Notice: Sendable, Codable, Equatable {
    public var id: String
    public var ticket: String
    public var number: String
    public var service: String
    public var window: Int?
    public var staffId: String?
    public var clerk: String?
    public var at: Date
    /// What was printed: UTF-8 text.
    public var text: String
    public var printer: String?
    public var printJob: String?
    public var printError: String?

    public init(id: String, ticket: String, number: String, service: String, window: Int?, staffId: String?, clerk: String?, at: Date, text: String) {
        self.id = id
        self.ticket = ticket
        self.number = number
        self.service = service
        self.window = window
        self.staffId = staffId
        self.clerk = clerk
        self.at = at
        self.text = text
    }

    /// The notice's text (Chinese, for an A4 page in a monospaced CJK font): the hall,
    /// the service, every material numbered, the time limit, the fees, where, the
    /// clerk and the date.
    public static func render(
        hall: String, service: HallService, catalog: ServiceCatalog, ticket: String, window: Int?, clerk: String?, staffId: String?, date: String
    ) -> String {
        var lines = ["\(hall)", "一次性告知单", "", "办理事项：\(service.name)（\(service.code)）", "取号：\(ticket)"]
        lines.append("")
        lines.append("申请材料：")
        for (i, m) in catalog.materials.enumerated() { lines.append("  \(i + 1). \(m)") }
        lines.append("")
        if let t = catalog.timeLimit { lines.append("办理时限：\(t)") }
        if let f = catalog.fees { lines.append("收费标准：\(f)") }
        if let l = catalog.location { lines.append("办理地点：\(l)") }
        if let n = catalog.notes { lines.append("说明：\(n)") }
        lines.append("")
        lines.append("以上材料一次性告知，材料齐全后即可办理。")
        var by = "经办人：\(clerk ?? "")"
        if let staffId { by += "（工号 \(staffId)）" }
        if let window { by += "  \(window)号窗口" }
        lines.append(by)
        lines.append("告知日期：\(date)")
        return lines.joined(separator: "\n") + "\n"
    }
}

public protocol NoticeStore: Sendable {
    func saveNotice(_ notice: Notice) async throws
    /// A ticket's notices, oldest first.
    func notices(ticket: String) async throws -> [Notice]
}
