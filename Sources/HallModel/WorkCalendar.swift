import Foundation

/// Hours on some days of the week: `Mon-Fri 09:00-12:00`, `Sat 09:00-12:00`,
/// `Mon,Wed 12:00-13:30`, `daily 08:30-17:30`.
public struct WeeklySpan: Sendable, Codable, Equatable, CustomStringConvertible {
    /// ISO weekdays: 1 Monday … 7 Sunday.
    public var weekdays: [Int]
    /// Minutes after midnight, start included, end excluded.
    public var start: Int
    public var end: Int

    public init(weekdays: [Int], start: Int, end: Int) {
        self.weekdays = weekdays.sorted()
        self.start = start
        self.end = end
    }

    static let names = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]

    /// Reads `DAYS HH:MM-HH:MM`; the error says what was expected.
    public static func parse(_ text: String) -> Result<WeeklySpan, SpanError> {
        let parts = text.split(separator: " ", omittingEmptySubsequences: true)
        let example = "expected DAYS HH:MM-HH:MM such as \"Mon-Fri 09:00-12:00\", \"Sat 09:00-12:00\" or \"daily 08:30-17:30\", found \"\(text)\""
        guard parts.count == 2 else { return .failure(SpanError(example)) }
        var days: Set<Int> = []
        if parts[0].lowercased() == "daily" {
            days = Set(1...7)
        } else {
            for item in parts[0].lowercased().split(separator: ",") {
                let ends = item.split(separator: "-").map { names.firstIndex(of: String($0)).map { $0 + 1 } }
                guard (1...2).contains(ends.count), ends.allSatisfy({ $0 != nil }) else { return .failure(SpanError(example)) }
                let (a, b) = (ends[0]!, ends.last!!)
                guard a <= b else { return .failure(SpanError("\(item): the first day comes first in the week (Mon … Sun), in \"\(text)\"")) }
                days.formUnion(a...b)
            }
        }
        let times = parts[1].split(separator: "-").map { clock(String($0)) }
        guard times.count == 2, let start = times[0], let end = times[1] else { return .failure(SpanError(example)) }
        guard start < end else { return .failure(SpanError("\(parts[1]): the span ends after it starts, in \"\(text)\"")) }
        return .success(WeeklySpan(weekdays: Array(days), start: start, end: end))
    }

    /// `HH:MM` → minutes after midnight (24:00 allowed as the end of a day).
    public static func clock(_ text: String) -> Int? {
        let p = text.split(separator: ":")
        guard p.count == 2, p[0].count <= 2, p[1].count == 2, let h = Int(p[0]), let m = Int(p[1]), (0...24).contains(h), (0...59).contains(m), h * 60 + m <= 1440
        else { return nil }
        return h * 60 + m
    }

    public static func clockText(_ minutes: Int) -> String { String(format: "%02d:%02d", minutes / 60, minutes % 60) }

    public var description: String {
        let d = weekdays.count == 7 ? "daily" : weekdays.map { Self.names[$0 - 1].capitalized }.joined(separator: ",")
        return "\(d) \(Self.clockText(start))-\(Self.clockText(end))"
    }

    public struct SpanError: Error, Sendable, CustomStringConvertible {
        public let description: String
        init(_ d: String) { description = d }
    }
}

/// The hall's working calendar (`[hall.calendar]`): weekly hours, holidays, extra
/// working days (调休, worked with a Monday's hours) and the duty hours of 延时服务
/// (a Saturday morning, the lunch break). A service may have hours and duty hours of
/// its own; a holiday closes everything, duty included.
public struct WorkCalendar: Sendable, Equatable {
    /// Weekly hours; empty: open all day, every day (no calendar configured).
    public var hours: [WeeklySpan]
    /// Days closed (`2026-10-01`).
    public var holidays: Set<String>
    /// Days worked although the week says otherwise (调休), with a Monday's hours.
    public var workdays: Set<String>
    /// 延时服务: hours kept on duty outside the weekly hours.
    public var duty: [WeeklySpan]

    public init(hours: [WeeklySpan] = [], holidays: Set<String> = [], workdays: Set<String> = [], duty: [WeeklySpan] = []) {
        self.hours = hours
        self.holidays = holidays
        self.workdays = workdays
        self.duty = duty
    }

    /// What a service is at a moment.
    public enum Phase: String, Sendable, Codable { case open, duty, closed }

    /// A service's phase at `date`: within its hours, on duty (延时服务), or closed.
    /// `hours`/`duty` are the service's own (nil: the calendar's).
    public func phase(at date: Date, hours: [WeeklySpan]?, duty: [WeeklySpan]?, calendar: Calendar) -> Phase {
        // No hours and no holidays (a hall without a calendar): open, without date
        // arithmetic on every ticket issued.
        if (hours ?? self.hours).isEmpty, holidays.isEmpty { return .open }
        let day = Self.dayText(date, calendar: calendar)
        if holidays.contains(day) { return .closed }
        let c = calendar.dateComponents([.hour, .minute, .weekday], from: date)
        let minute = c.hour! * 60 + c.minute!
        // Foundation: 1 Sunday … 7 Saturday; here 1 Monday … 7 Sunday.
        let weekday = workdays.contains(day) ? 1 : (c.weekday! + 5) % 7 + 1
        let open = hours ?? self.hours
        if open.isEmpty || open.contains(where: { $0.weekdays.contains(weekday) && minute >= $0.start && minute < $0.end }) { return .open }
        if (duty ?? self.duty).contains(where: { $0.weekdays.contains(weekday) && minute >= $0.start && minute < $0.end }) { return .duty }
        return .closed
    }

    /// The next moment from `date` on (within 366 days) a service opens (or starts duty);
    /// nil when it never does. `date` itself when it is open then.
    public func nextOpening(from date: Date, hours: [WeeklySpan]?, duty: [WeeklySpan]?, calendar: Calendar) -> (at: Date, phase: Phase)? {
        let now = phase(at: date, hours: hours, duty: duty, calendar: calendar)
        if now != .closed { return (date, now) }
        var dayStart = calendar.startOfDay(for: date)
        for _ in 0..<367 {
            let day = Self.dayText(dayStart, calendar: calendar)
            if !holidays.contains(day) {
                let weekday = workdays.contains(day) ? 1 : (calendar.component(.weekday, from: dayStart) + 5) % 7 + 1
                let spans = ((hours ?? self.hours).map { ($0, Phase.open) } + (duty ?? self.duty).map { ($0, Phase.duty) })
                    .filter { $0.0.weekdays.contains(weekday) }.sorted { $0.0.start < $1.0.start }
                for (span, phase) in spans {
                    // A span's start, or the first minute of it after `date`.
                    guard let start = calendar.date(byAdding: .minute, value: span.start, to: dayStart),
                        let end = calendar.date(byAdding: .minute, value: span.end, to: dayStart), end > date
                    else { continue }
                    return (max(start, date), phase)
                }
            }
            guard let next = calendar.date(byAdding: .day, value: 1, to: dayStart) else { return nil }
            dayStart = next
        }
        return nil
    }

    /// When the phase a service is in at `date` ends (its span's end); nil when closed
    /// or open without hours.
    public func closing(after date: Date, hours: [WeeklySpan]?, duty: [WeeklySpan]?, calendar: Calendar) -> Date? {
        let phase = phase(at: date, hours: hours, duty: duty, calendar: calendar)
        guard phase != .closed, !(hours ?? self.hours).isEmpty else { return nil }
        let day = Self.dayText(date, calendar: calendar)
        let weekday = workdays.contains(day) ? 1 : (calendar.component(.weekday, from: date) + 5) % 7 + 1
        let c = calendar.dateComponents([.hour, .minute], from: date)
        let minute = c.hour! * 60 + c.minute!
        let spans = phase == .open ? (hours ?? self.hours) : (duty ?? self.duty)
        guard let span = spans.first(where: { $0.weekdays.contains(weekday) && minute >= $0.start && minute < $0.end }) else { return nil }
        return calendar.date(byAdding: .minute, value: span.end, to: calendar.startOfDay(for: date))
    }

    /// A working day, for deadlines counted in working days: not a holiday, and Monday to
    /// Friday or a 调休 day (duty days do not count).
    public func isWorkingDay(_ date: Date, calendar: Calendar) -> Bool {
        let day = Self.dayText(date, calendar: calendar)
        if holidays.contains(day) { return false }
        if workdays.contains(day) { return true }
        return !calendar.isDateInWeekend(date)
    }

    /// The end of the `count`-th working day after `date`'s day.
    public func deadline(after date: Date, workingDays count: Int, calendar: Calendar) -> Date {
        var day = calendar.startOfDay(for: date)
        var counted = 0
        while counted < count {
            day = calendar.date(byAdding: .day, value: 1, to: day)!
            if isWorkingDay(day, calendar: calendar) { counted += 1 }
        }
        return calendar.date(byAdding: .day, value: 1, to: day)!
    }

    public static func dayText(_ date: Date, calendar: Calendar) -> String {
        let c = calendar.dateComponents([.year, .month, .day], from: date)
        return String(format: "%04d-%02d-%02d", c.year!, c.month!, c.day!)
    }
}

/// `GET /v1/services`: a service now, for kiosks and boards: open, on duty (延时服务)
/// or closed, until when, and when it opens next. `GET /v1/services/{code}` adds its
/// hours and its catalog (服务事项公开).
public struct ServiceState: Sendable, Codable, Equatable {
    public var code: String
    public var name: String
    public var state: WorkCalendar.Phase
    /// When the present hours (or duty) end.
    public var until: Date?
    /// When closed: the next opening, and whether it is regular hours or duty.
    public var nextOpening: Date?
    public var nextOpeningState: WorkCalendar.Phase?
    public var waiting: Int
    public var dailyCap: Int?
    public var waitLimitMinutes: Int?
    public var serviceLimitMinutes: Int?
    /// Only in `GET /v1/services/{code}`.
    public var hours: [String]?
    public var duty: [String]?
    public var catalog: ServiceCatalog?

    public init(code: String, name: String, state: WorkCalendar.Phase, waiting: Int) {
        self.code = code
        self.name = name
        self.state = state
        self.waiting = waiting
    }
}
