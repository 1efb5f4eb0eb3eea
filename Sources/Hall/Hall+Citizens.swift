import DeviceKit
import Foundation
import HallModel

/// What the hall promises citizens: service within its calendar's hours (and 延时服务
/// duty hours), appointments honoured within their check-in window, answers within
/// the promised time (限时办结), and the service's public entry (服务事项公开).
extension Hall {
    // MARK: the calendar

    func phase(_ s: HallService, at date: Date) -> WorkCalendar.Phase {
        setup.calendar.phase(at: date, hours: s.hours, duty: s.duty, calendar: calendar)
    }

    /// `2026-12-07 09:00`, in the hall's time zone.
    nonisolated func clockText(_ date: Date) -> String {
        let c = calendar.dateComponents([.year, .month, .day, .hour, .minute], from: date)
        return String(format: "%04d-%02d-%02d %02d:%02d", c.year!, c.month!, c.day!, c.hour!, c.minute!)
    }

    /// Why a service issues no ticket now, naming its next opening.
    func closedMessage(_ s: HallService, at date: Date) -> String {
        guard let next = setup.calendar.nextOpening(from: date, hours: s.hours, duty: s.duty, calendar: calendar) else {
            return "\(s.name) (\(s.code)) is closed and has no opening hours in the coming year"
        }
        return "\(s.name) (\(s.code)) is closed now; it opens \(clockText(next.at))\(next.phase == .duty ? " (延时服务)" : "")"
    }

    /// Every service now: open, on duty or closed, until when, and the next opening.
    public func serviceStates() -> [ServiceState] {
        rollDay()
        return setup.services.map { state(of: $0, detail: false) }
    }

    /// One service with its hours and its catalog.
    public func serviceState(_ code: String) throws(HallError) -> ServiceState {
        guard let s = setup.service(code) else {
            throw .notFound("no service '\(code)' (services: \(setup.services.map(\.code).joined(separator: ", ")))", field: "code")
        }
        rollDay()
        return state(of: s, detail: true)
    }

    private func state(of s: HallService, detail: Bool) -> ServiceState {
        let now = now()
        var out = ServiceState(code: s.code, name: s.name, state: phase(s, at: now), waiting: waiting[s.code] ?? 0)
        out.until = setup.calendar.closing(after: now, hours: s.hours, duty: s.duty, calendar: calendar)
        if out.state == .closed, let next = setup.calendar.nextOpening(from: now, hours: s.hours, duty: s.duty, calendar: calendar) {
            out.nextOpening = next.at
            out.nextOpeningState = next.phase
        }
        out.dailyCap = s.dailyCap
        out.waitLimitMinutes = s.waitLimitMinutes
        out.serviceLimitMinutes = s.serviceLimitMinutes
        if detail {
            out.hours = (s.hours ?? setup.calendar.hours).map(\.description)
            out.duty = (s.duty ?? setup.calendar.duty).map(\.description)
            out.catalog = s.catalog
        }
        return out
    }

    // MARK: appointments

    /// Registers an appointment: a slot (`HH:MM` of `day`, or an ISO 8601 time) in the
    /// future, on a day the hall works, within the service's hours; the citizen's name
    /// and phone are masked before they are stored. A code is used once.
    public func register(
        code given: String?, service code: String, day: String?, slot text: String, name: String?, phone: String?
    ) async throws -> Appointment {
        guard let service = setup.service(code) else {
            throw HallError.notFound("no service '\(code)' (services: \(setup.services.map(\.code).joined(separator: ", ")))", field: "service")
        }
        if let given, !Appointment.isValidCode(given) {
            throw HallError.invalid("a code is 1 to 32 letters, digits, - or _, found '\(given)'", field: "code")
        }
        let slot = try slotDate(day: day, slot: text)
        let now = now()
        guard slot > now else { throw HallError.invalid("the slot \(clockText(slot)) is in the past (now \(clockText(now)))", field: "slot") }
        let slotDay = self.day(slot)
        if setup.calendar.holidays.contains(slotDay) {
            throw HallError.invalid("\(slotDay) is a holiday: the hall is closed", field: day == nil ? "slot" : "day")
        }
        let end = slot.addingTimeInterval(Double(setup.slotMinutes - 1) * 60)
        guard phase(service, at: slot) != .closed, phase(service, at: end) != .closed else {
            throw HallError.invalid("\(service.name) is not open for the whole slot \(clockText(slot)) (\(setup.slotMinutes) min): \(closedMessage(service, at: slot))", field: "slot")
        }
        for (field, value) in [("name", name), ("phone", phone)] where (value?.count ?? 0) > 64 {
            throw HallError.invalid("at most 64 characters", field: field)
        }
        var a = Appointment(
            code: given ?? Appointment.newCode(), service: code, slot: slot, minutes: setup.slotMinutes, name: name.map(LedgerEntry.masked),
            phone: phone.map(LedgerEntry.masked), createdAt: now)
        // A code the hall makes up may, rarely, be one given before: another is made.
        for attempt in 0..<5 {
            do {
                try await store.addAppointment(a)
                break
            } catch HallStoreError.appointmentExists {
                if given != nil || attempt == 4 {
                    throw HallError.conflict("the appointment code '\(a.code)' was registered before: a code is used once", field: "code")
                }
                a.code = Appointment.newCode()
            }
        }
        await publish(NewEvent(type: "appointment.registered", data: try JSONValue(encoding: a)))
        return a
    }

    /// `HH:MM` on `day` in the hall's time zone, or an ISO 8601 time.
    private func slotDate(day: String?, slot: String) throws -> Date {
        if let day {
            guard let start = dayStart(day) else { throw HallError.invalid("expected a day YYYY-MM-DD, found '\(day)'", field: "day") }
            guard let minute = WeeklySpan.clock(slot), minute < 1440 else {
                throw HallError.invalid("expected the slot's start HH:MM on \(day), found '\(slot)'", field: "slot")
            }
            return calendar.date(byAdding: .minute, value: minute, to: start)!
        }
        let iso = ISO8601DateFormatter()
        guard let date = iso.date(from: slot) else {
            throw HallError.invalid("expected day (YYYY-MM-DD) with slot HH:MM, or slot as an ISO 8601 time, found '\(slot)'", field: "slot")
        }
        return date
    }

    /// Cancels a booked appointment (kept, as cancelled).
    public func cancelAppointment(_ code: String, by who: String?) async throws -> Appointment {
        guard var a = try await store.appointment(code) else { throw HallError.notFound("no appointment '\(code)'", field: "code") }
        guard a.state == .booked else {
            throw HallError.conflict("appointment '\(code)' is \(a.state.rawValue)\(a.ticket.map { " (ticket \(tickets[$0]?.number ?? $0))" } ?? ""): only a booked one is cancelled", field: "code")
        }
        a.state = .cancelled
        a.closedAt = now()
        a.closedBy = who
        do {
            try await store.updateAppointment(a, from: .booked)
        } catch HallStoreError.appointmentChanged(let state) {
            throw HallError.conflict("appointment '\(code)' became \(state?.rawValue ?? "something else") meanwhile", field: "code")
        }
        await publish(NewEvent(type: "appointment.cancelled", data: try JSONValue(encoding: a)))
        return a
    }

    public func appointment(_ code: String) async throws -> Appointment? { try await store.appointment(code) }

    /// Today, the hall's day.
    public func currentDay() -> String { day(now()) }

    /// The appointments of a day (the hall's), by slot.
    public func appointments(day: String) async throws -> [Appointment] {
        guard let start = dayStart(day), let end = calendar.date(byAdding: .day, value: 1, to: start) else {
            throw HallError.invalid("expected a day YYYY-MM-DD, found '\(day)'", field: "date")
        }
        return try await store.appointments(from: start, to: end)
    }

    /// Checks an appointment in: it exists, is booked, and now is within its check-in
    /// window. Returns its service.
    func checkIn(_ code: String, service: String?) async throws -> String {
        guard let a = try await store.appointment(code), service == nil || service == a.service else {
            throw HallError.notFound("no appointment '\(code)'\(service.map { " for service \($0)" } ?? "")", field: "appointment")
        }
        switch a.state {
        case .booked: break
        case .checkedIn:
            throw HallError.conflict("appointment '\(code)' was already checked in (ticket \(a.ticket.flatMap { tickets[$0]?.number } ?? a.ticket ?? "?"))", field: "appointment")
        case .cancelled, .noShow:
            throw HallError.conflict("appointment '\(code)' is \(a.state.rawValue)\(a.closedAt.map { " since \(clockText($0))" } ?? ""): book again", field: "appointment")
        }
        let now = now()
        let from = a.slot.addingTimeInterval(-Double(setup.checkinEarlyMinutes) * 60)
        let until = a.slot.addingTimeInterval(Double(setup.checkinLateMinutes) * 60)
        let window = "check-in is from \(clockText(from)) to \(clockText(until)) for the slot at \(clockText(a.slot))"
        if now < from { throw HallError.notNow("too early for appointment '\(code)': \(window)", field: "appointment") }
        if now > until { throw HallError.notNow("too late for appointment '\(code)': \(window)", field: "appointment") }
        return a.service
    }

    /// Booked appointments whose slot (and check-in window) ended become no-shows.
    /// halld calls it every minute.
    @discardableResult
    public func markNoShowAppointments() async throws -> [Appointment] {
        let now = now()
        let late = Double(setup.checkinLateMinutes) * 60
        var marked: [Appointment] = []
        // Slots of the last two days: a halld stopped overnight still marks yesterday's.
        for var a in try await store.appointments(from: now.addingTimeInterval(-2 * 86_400), to: now)
        where a.state == .booked && max(a.slotEnd, a.slot.addingTimeInterval(late)) <= now {
            a.state = .noShow
            a.closedAt = now
            do {
                try await store.updateAppointment(a, from: .booked)
            } catch HallStoreError.appointmentChanged {
                continue  // checked in or cancelled meanwhile (another halld of the hall, perhaps)
            }
            await publish(NewEvent(type: "appointment.noShow", data: try JSONValue(encoding: a)))
            marked.append(a)
        }
        return marked
    }

    // MARK: time limits (限时办结)

    /// Announces each ticket that went past its service's promised wait or service time,
    /// once per promise (`ticket.overdue`, with `limit` waiting or service). halld calls
    /// it every minute.
    @discardableResult
    public func announceOverdueTickets() async throws -> [(ticket: String, limit: String)] {
        rollDay()
        let now = now()
        var announced: [(String, String)] = []
        for t in tickets.values.sorted(by: { $0.issuedAt < $1.issuedAt }) {
            guard let s = setup.service(t.service) else { continue }
            var due: (String, Int)?
            if t.state == .waiting, let m = s.waitLimitMinutes, now.timeIntervalSince(t.issuedAt) >= Double(m) * 60 {
                due = ("waiting", m)
            } else if t.state.isAtWindow, let m = s.serviceLimitMinutes, let called = t.calledAt, now.timeIntervalSince(called) >= Double(m) * 60,
                t.window.map({ windows[$0] != nil }) ?? false
            {
                due = ("service", m)
            }
            guard let (limit, minutes) = due, !(t.overdue ?? []).contains(limit) else { continue }
            // The store says whether it was announced already (by another halld of the hall).
            guard try await store.markOverdue(ticket: t.id, limit: limit) else {
                tickets[t.id]?.overdue = (t.overdue ?? []) + [limit]
                continue
            }
            // (Read before the write: the right side of an optional-chained assignment runs
            // inside the write's access to `tickets`.)
            guard var now = tickets[t.id] else { continue }
            now.overdue = (now.overdue ?? []) + [limit]
            tickets[t.id] = now
            revision += 1
            logger.notice("\(t.number) went past the \(limit) time promised for \(s.name): \(minutes) min", metadata: ["ticket": "\(t.id)"])
            await publish("ticket.overdue", now, extra: ["limit": .string(limit), "limitMinutes": .number(Double(minutes))])
            announced.append((t.id, limit))
        }
        return announced
    }

    /// Another halld announced a ticket overdue: the promise is marked here too.
    func applyRemoteOverdue(_ event: HallEvent) {
        guard let id = event.data["id"]?.stringValue, let limit = event.data["limit"]?.stringValue, let t = tickets[id] else { return }
        if !(t.overdue ?? []).contains(limit) {
            tickets[id]?.overdue = (t.overdue ?? []) + [limit]
            revision += 1
        }
    }

    // MARK: one-time notices (一次性告知)

    /// Prints the one-time notice of a ticket's service on the window's printer and
    /// archives it with the ticket; a print that fails is archived with its error.
    public func printNotice(ticket idOrNumber: String, window requested: Int?) async throws -> Notice {
        guard let t = ticket(idOrNumber) else { throw HallError.notFound("no ticket '\(idOrNumber)' today", field: "ticket") }
        guard let service = setup.service(t.service) else { throw HallError.notFound("no service '\(t.service)'", field: "service") }
        guard let catalog = service.catalog, !catalog.materials.isEmpty else {
            throw HallError.invalid("\(service.name) (\(service.code)) has no catalog: give it materials in [[hall.service]] to print its notice", field: "service")
        }
        guard let n = requested ?? t.window else {
            throw HallError.invalid("\(t.number) has not been at a window: name the window whose printer prints the notice", field: "window")
        }
        let (config, w) = try localWindow(n)
        guard let printer = config.printer else { throw HallError.invalid("window \(n) has no printer ([[hall.window]] printer)", field: "window") }
        guard let printNotice else { throw HallError.notNow("this halld prints no notices (no printing configured)", field: "window") }
        let clerk = (t.window == n ? t.clerk : nil) ?? w.clerk?.name
        let staffId = (t.window == n ? t.staffId : nil) ?? w.clerk?.staffId
        let at = now()
        let text = Notice.render(hall: setup.name, service: service, catalog: catalog, ticket: t.number, window: n, clerk: clerk, staffId: staffId, date: day(at))
        var notice = Notice(
            id: "nt-" + UUID().uuidString.prefix(8).lowercased(), ticket: t.id, number: t.number, service: service.code, window: n, staffId: staffId, clerk: clerk,
            at: at, text: text)
        notice.printer = printer.rawValue
        do {
            notice.printJob = try await printNotice(notice, printer)
        } catch {
            notice.printError = "\(error)"
            logger.warning("the notice of \(t.number) was not printed on \(printer): \(error)", metadata: ["ticket": "\(t.id)"])
        }
        try await store.saveNotice(notice)
        await publish(NewEvent(type: "notice.printed", data: try JSONValue(encoding: notice)))
        return notice
    }

    /// The notices printed for a ticket (of any day), oldest first.
    public func notices(ticket idOrNumber: String) async throws -> [Notice] {
        let id = ticket(idOrNumber)?.id ?? idOrNumber
        return try await store.notices(ticket: id)
    }
}
