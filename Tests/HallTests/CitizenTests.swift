import DeviceKit
import Foundation
import Hall
import HallAPIModels
import HallClient
import HallConfiguration
import HallModel
import ChildProcess
import Testing

/// What the hall promises citizens (issue: working calendar, appointments, time limits,
/// the catalog and one-time notices), on the test clock. The bench starts on Friday
/// 2027-01-15, 16:00 in Shanghai.
@Suite("citizens: calendar, appointments, time limits, notices", .timeLimit(.minutes(3)))
struct CitizenTests {
    typealias Bench = HallDayTests.Bench

    static let shanghai: Calendar = {
        var c = Calendar(identifier: .gregorian)
        c.timeZone = TimeZone(identifier: "Asia/Shanghai")!
        return c
    }()

    static func at(_ day: Int, _ hour: Int, _ minute: Int = 0) -> Date {
        shanghai.date(from: DateComponents(year: 2027, month: 1, day: day, hour: hour, minute: minute))!
    }

    static func span(_ text: String) -> WeeklySpan { try! WeeklySpan.parse(text).get() }

    /// Weekdays 09:00-12:00 and 13:30-17:30; Wednesday 20 a holiday; Sunday 24 a 调休
    /// working day; service A keeps a Saturday-morning duty (延时服务), B does not.
    static func week(_ setup: inout HallSetup) {
        setup.calendar = WorkCalendar(
            hours: [span("Mon-Fri 09:00-12:00"), span("Mon-Fri 13:30-17:30")], holidays: ["2027-01-20"], workdays: ["2027-01-24"],
            duty: [span("Sat 09:00-12:00")])
        if setup.services.count > 1 { setup.services[1].duty = [] }
    }

    /// Moves the bench's clock to `date` (forward only).
    static func move(_ b: Bench, to date: Date) {
        let minutes = date.timeIntervalSince(b.clock.now) / 60
        precondition(minutes >= 0, "the test clock only moves forward")
        b.clock.advance(minutes)
    }

    static func refusal(_ body: () async throws -> some Any) async -> HallError? {
        do {
            _ = try await body()
            return nil
        } catch let e as HallError {
            return e
        } catch {
            return HallError(.hardwareError, "\(error)")
        }
    }

    @Test("weekly spans read DAYS HH:MM-HH:MM and name what is wrong")
    func spans() throws {
        #expect(Self.span("Mon-Fri 09:00-12:00") == WeeklySpan(weekdays: [1, 2, 3, 4, 5], start: 540, end: 720))
        #expect(Self.span("sat,Sun 08:30-12:00").weekdays == [6, 7])
        #expect(Self.span("daily 00:00-24:00").description == "daily 00:00-24:00")
        for bad in ["Mon-Fri", "Fri-Mon 09:00-12:00", "Mon 12:00-09:00", "Mo 09:00-12:00", "Mon 9-12", "Mon 09:00-25:00"] {
            guard case .failure(let e) = WeeklySpan.parse(bad) else {
                Issue.record("\(bad) was read")
                continue
            }
            #expect(e.description.contains(bad) || e.description.contains("first day") || e.description.contains("ends after"), "\(bad): \(e)")
        }
    }

    @Test("a week with a holiday, a Saturday duty morning and a 调休 Sunday: tickets only in hours, refusals name the next opening, GET /v1/services tells each service's state", arguments: StoreKind.allCases)
    func calendarWeek(kind: StoreKind) async throws {
        try await Bench(kind, configure: Self.week).run { b in
            let h = b.hall
            #expect(b.clock.now == Self.at(15, 16), "the bench starts on Friday 16:00")
            // Friday afternoon: open until 17:30.
            _ = try await h.issue(service: "A")
            var a = try #require(await h.serviceStates().first { $0.code == "A" })
            #expect(a.state == .open && a.until == Self.at(15, 17, 30) && a.waiting == 1 && a.nextOpening == nil, "\(a)")
            // Friday evening: A opens on Saturday morning for duty (延时服务), B on Monday.
            Self.move(b, to: Self.at(15, 17, 40))
            let eveningA = try #require(await Self.refusal { try await h.issue(service: "A") })
            #expect(eveningA.code == .sequenceError && eveningA.field == "service" && eveningA.message.contains("opens 2027-01-16 09:00 (延时服务)"), "\(eveningA)")
            let eveningB = try #require(await Self.refusal { try await h.issue(service: "B") })
            #expect(eveningB.message.contains("opens 2027-01-18 09:00") && !eveningB.message.contains("延时服务"), "\(eveningB)")
            a = try #require(await h.serviceStates().first { $0.code == "A" })
            #expect(a.state == .closed && a.nextOpening == Self.at(16, 9) && a.nextOpeningState == .duty, "\(a)")

            // Saturday: A on duty until noon, B closed until Monday.
            Self.move(b, to: Self.at(16, 9, 30))
            let duty = try await h.issue(service: "A")
            #expect(duty.day == "2027-01-16")
            #expect(await Self.refusal { try await h.issue(service: "B") }?.message.contains("opens 2027-01-18 09:00") == true)
            let states = await h.serviceStates()
            #expect(states.map { "\($0.code) \($0.state.rawValue)" } == ["A duty", "B closed"], "\(states)")
            #expect(states[0].until == Self.at(16, 12))
            let detail = try await h.serviceState("A")
            #expect(detail.hours == ["Mon,Tue,Wed,Thu,Fri 09:00-12:00", "Mon,Tue,Wed,Thu,Fri 13:30-17:30"] && detail.duty == ["Sat 09:00-12:00"], "\(detail)")
            // Saturday afternoon: A opens again on Monday.
            Self.move(b, to: Self.at(16, 14))
            #expect(await h.serviceStates().first?.nextOpening == Self.at(18, 9))

            // Monday's lunch break.
            Self.move(b, to: Self.at(18, 12, 30))
            #expect(await Self.refusal { try await h.issue(service: "B") }?.message.contains("opens 2027-01-18 13:30") == true)
            // Tuesday evening: Wednesday is a holiday, so Thursday morning.
            Self.move(b, to: Self.at(19, 17, 40))
            #expect(await Self.refusal { try await h.issue(service: "A") }?.message.contains("opens 2027-01-21 09:00") == true)
            Self.move(b, to: Self.at(20, 10))
            let holiday = try #require(await Self.refusal { try await h.issue(service: "A") })
            #expect(holiday.message.contains("opens 2027-01-21 09:00"), "\(holiday)")
            #expect(await h.serviceStates().allSatisfy { $0.state == .closed })

            // Saturday 23 afternoon: the next opening is the 调休 Sunday, with a Monday's hours.
            Self.move(b, to: Self.at(23, 15))
            #expect(await h.serviceStates().map(\.nextOpening) == [Self.at(24, 9), Self.at(24, 9)])
            Self.move(b, to: Self.at(24, 10))
            _ = try await h.issue(service: "B")
            let unknown = try #require(await Self.refusal { try await h.serviceState("Z") })
            #expect(unknown.code == .notFound && unknown.field == "code")
        }
    }

    @Test("working days for deadlines skip weekends and holidays and count 调休 days")
    func workingDays() {
        var setup = HallSetup()
        Self.week(&setup)
        // A Friday: Mon 18, Tue 19, (Wed 20 holiday), Thu 21, Fri 22, (Sat 23), Sun 24 (调休) = 5.
        let due = setup.calendar.deadline(after: Self.at(15, 10), workingDays: 5, calendar: Self.shanghai)
        #expect(due == Self.at(25, 0), "\(due)")
        #expect(WorkCalendar().deadline(after: Self.at(15, 10), workingDays: 5, calendar: Self.shanghai) == Self.at(23, 0), "Mon-Fri without a calendar")
    }

    @Test("appointments: registered masked, refused in the past, on a holiday, out of hours or twice; cancelled; checked in early, on time and late within the window, too early and too late refused; one never checked in becomes a no-show", arguments: StoreKind.allCases)
    func appointments(kind: StoreKind) async throws {
        try await Bench(kind, configure: Self.week).run { b in
            let h = b.hall
            let p1 = try await h.register(code: "YY0001", service: "A", day: "2027-01-18", slot: "09:30", name: "张三丰", phone: "13812345678")
            #expect(p1.name == "张*丰" && p1.phone == "138****5678" && p1.state == .booked && p1.slot == Self.at(18, 9, 30) && p1.minutes == 30, "\(p1)")
            let p2 = try await h.register(code: nil, service: "A", day: "2027-01-18", slot: "10:00", name: nil, phone: nil)
            #expect(p2.code.count == 8 && p2.code.allSatisfy(\.isNumber), "a code the hall gives: \(p2.code)")
            _ = try await h.register(code: "YY0003", service: "A", day: "2027-01-18", slot: "10:30", name: "李四", phone: nil)
            _ = try await h.register(code: "YY0004", service: "A", day: "2027-01-18", slot: "11:00", name: nil, phone: nil)
            _ = try await h.register(code: "YY0005", service: "B", day: "2027-01-18", slot: "13:30", name: nil, phone: nil)

            // Refusals, each naming its field; nothing is stored by them.
            let refusals: [(String, HallError?)] = [
                ("twice", await Self.refusal { try await h.register(code: "YY0001", service: "B", day: "2027-01-19", slot: "09:00", name: nil, phone: nil) }),
                ("past", await Self.refusal { try await h.register(code: "X1", service: "A", day: "2027-01-15", slot: "07:30", name: nil, phone: nil) }),
                ("holiday", await Self.refusal { try await h.register(code: "X2", service: "A", day: "2027-01-20", slot: "10:00", name: nil, phone: nil) }),
                ("lunch", await Self.refusal { try await h.register(code: "X3", service: "A", day: "2027-01-18", slot: "11:45", name: nil, phone: nil) }),
                ("saturday B", await Self.refusal { try await h.register(code: "X4", service: "B", day: "2027-01-16", slot: "09:00", name: nil, phone: nil) }),
                ("format", await Self.refusal { try await h.register(code: "X5", service: "A", day: "2027-01-18", slot: "9h30", name: nil, phone: nil) }),
                ("day", await Self.refusal { try await h.register(code: "X6", service: "A", day: "2027-02-30", slot: "09:30", name: nil, phone: nil) }),
                ("code", await Self.refusal { try await h.register(code: "X 7", service: "A", day: "2027-01-19", slot: "09:30", name: nil, phone: nil) }),
                ("service", await Self.refusal { try await h.register(code: "X8", service: "Z", day: "2027-01-19", slot: "09:30", name: nil, phone: nil) }),
            ]
            let seen = refusals.map { "\($0.0): \($0.1?.code.rawValue ?? "accepted") \($0.1?.field ?? "-")" }
            #expect(
                seen == [
                    "twice: conflict code", "past: invalidData slot", "holiday: invalidData day", "lunch: invalidData slot", "saturday B: invalidData slot",
                    "format: invalidData slot", "day: invalidData day", "code: invalidData code", "service: notFound service",
                ], "\(seen)")
            #expect(refusals[1].1?.message.contains("in the past") == true && refusals[2].1?.message.contains("holiday") == true, "\(refusals)")
            let (holidayList, otherList) = (try await h.appointments(day: "2027-01-20"), try await h.appointments(day: "2027-01-19"))
            #expect(holidayList.isEmpty && otherList.isEmpty, "refused appointments are not stored")

            // Cancelled: kept, and neither cancelled again nor checked in.
            let cancelled = try await h.cancelAppointment("YY0003", by: "uid 1000")
            #expect(cancelled.state == .cancelled && cancelled.closedBy == "uid 1000")
            #expect(await Self.refusal { try await h.cancelAppointment("YY0003", by: nil) }?.code == .conflict)
            #expect(await Self.refusal { try await h.cancelAppointment("NOPE", by: nil) }?.code == .notFound)

            // Monday 08:40: too early for the 09:30 slot (check-in opens 30 minutes before).
            Self.move(b, to: Self.at(18, 8, 40))
            let early = try #require(await Self.refusal { try await h.issue(service: nil, appointment: "YY0001") })
            #expect(
                early.code == .sequenceError && early.field == "appointment"
                    && early.message.contains("check-in is from 2027-01-18 09:00 to 2027-01-18 09:45 for the slot at 2027-01-18 09:30"), "\(early)")
            // 09:05: early but within the window; the service comes from the appointment.
            Self.move(b, to: Self.at(18, 9, 5))
            let t1 = try await h.issue(service: nil, appointment: "YY0001")
            #expect(t1.service == "A" && t1.appointment == "YY0001" && t1.slot == Self.at(18, 9, 30))
            #expect(await Self.refusal { try await h.issue(service: "A", appointment: "YY0001") }?.code == .conflict, "a code is checked in once")
            #expect(await Self.refusal { try await h.issue(service: "B", appointment: p2.code) }?.code == .notFound, "another service's appointment")
            #expect(await Self.refusal { try await h.issue(service: "A", appointment: "YY0003") }?.code == .conflict, "a cancelled one")
            // 10:05: on time.
            Self.move(b, to: Self.at(18, 10, 5))
            _ = try await h.issue(service: "A", appointment: p2.code)
            // 11:20: YY0004 (11:00) is too late (check-in closed at 11:15), and not yet a no-show (its slot ends 11:30).
            Self.move(b, to: Self.at(18, 11, 20))
            let late = try #require(await Self.refusal { try await h.issue(service: nil, appointment: "YY0004") })
            #expect(late.message.contains("too late") && late.field == "appointment", "\(late)")
            #expect(try await h.markNoShowAppointments().isEmpty)
            Self.move(b, to: Self.at(18, 11, 30))
            #expect(try await h.markNoShowAppointments().map(\.code) == ["YY0004"])
            #expect(try await h.markNoShowAppointments().isEmpty, "once")
            #expect(b.events.all.filter { $0.type == "appointment.noShow" }.compactMap { $0.data["code"]?.stringValue } == ["YY0004"])
            // 13:44: late, but within the 15 minutes after the 13:30 slot.
            Self.move(b, to: Self.at(18, 13, 44))
            _ = try await h.issue(service: nil, appointment: "YY0005")

            let day = try await h.appointments(day: "2027-01-18")
            #expect(
                day.map { "\($0.code == p2.code ? "P2" : $0.code) \($0.state.rawValue)" } == [
                    "YY0001 checkedIn", "P2 checkedIn", "YY0003 cancelled", "YY0004 noShow", "YY0005 checkedIn",
                ], "\(day)")
            let csv = Appointment.csv(day, timeZone: Self.shanghai.timeZone)
            #expect(csv.contains("YY0001,A,2027-01-18 09:30,30,张*丰,138****5678,checkedIn,\(t1.id)"), "\(csv)")
            #expect(!csv.contains("13812345678") && !csv.contains("张三丰"), "nothing unmasked is kept")
            #expect(b.events.all.filter { $0.type.hasPrefix("appointment.") }.map(\.type).sorted() == [
                "appointment.cancelled", "appointment.noShow", "appointment.registered", "appointment.registered", "appointment.registered",
                "appointment.registered", "appointment.registered",
            ])
        }
    }

    @Test("time limits: a ticket past its promised wait and one past its promised service time are announced once each, and counted in the statistics", arguments: StoreKind.allCases)
    func overdue(kind: StoreKind) async throws {
        try await Bench(kind) { setup in
            setup.services[0].waitLimitMinutes = 10
            setup.services[0].serviceLimitMinutes = 15
        }.run { b in
            let h = b.hall
            _ = try await h.setStatus(window: 3, state: .open, away: nil)
            let a1 = try await h.issue(service: "A")  // 16:00
            b.clock.advance(1)
            let a2 = try await h.issue(service: "A")  // 16:01
            b.clock.advance(8)  // 16:09
            #expect(try await h.announceOverdueTickets().isEmpty)
            b.clock.advance(1)  // 16:10
            #expect(try await h.announceOverdueTickets().map(\.ticket) == [a1.id])
            #expect(try await h.announceOverdueTickets().isEmpty, "once")
            b.clock.advance(1)  // 16:11
            #expect(try await h.announceOverdueTickets().map(\.ticket) == [a2.id])
            let called = try #require(try await h.callNext(window: 3))
            #expect(called.id == a1.id && called.overdue == ["waiting"], "\(called)")
            b.clock.advance(14)  // 16:25
            #expect(try await h.announceOverdueTickets().isEmpty)
            b.clock.advance(1)  // 16:26
            let service = try await h.announceOverdueTickets()
            #expect(service.map { "\($0.ticket == a1.id ? "A001" : $0.ticket) \($0.limit)" } == ["A001 service"])
            b.clock.advance(4)  // 16:30
            _ = try await h.complete(window: 3)
            let events = b.events.all.filter { $0.type == "ticket.overdue" }
            #expect(events.map { "\($0.data["number"]?.stringValue ?? "?") \($0.data["limit"]?.stringValue ?? "?")" } == ["A001 waiting", "A002 waiting", "A001 service"])
            #expect(try await b.store.tickets(day: "2027-01-15").first { $0.id == a1.id }?.overdue == ["waiting", "service"], "kept through the call and completion")
            // A001 waited 11 min and was served 19; A002 waits 29 min by now: two waits, one service past their promises.
            let stats = try await h.stats(date: "2027-01-15")
            #expect(stats.hall.overdueWaiting == 2 && stats.hall.overdueService == 1, "\(stats.hall)")
            #expect(stats.services["A"]?.overdueWaiting == 2 && stats.windows["3"]?.overdueService == 1)
            #expect(stats.csv.contains(",2,1,"), "\(stats.csv)")
        }
    }

    @Test("hallctl: appointments imported from CSV (refused lines named with their line and reason), listed masked, cancelled; a check-in too early refused; services and their catalog shown")
    func hallctlAppointments() async throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var config = try simulatedConfig(dir: dir)
        config.hall?.services[0].catalog = ServiceCatalog(materials: ["居民身份证原件"], fees: "不收费")
        let csv = """
            service,day,slot,code,name,phone
            A,2099-01-05,09:30,IMP001,张三丰,13812345678
            A,2020-01-01,09:30,IMP002,,
            B,2099-01-05,"10:00",IMP003,"王,五",
            A,2099-01-05
            Z,2099-01-05,11:00,IMP004,,
            """
        try csv.write(toFile: dir + "/bookings.csv", atomically: true, encoding: .utf8)
        let hallctl = builtExecutable("hallctl")
        try await withDaemon(config) { socket in
            let imported = try await runCommand([hallctl, "appointments", "import", dir + "/bookings.csv", "--socket", socket])
            #expect(imported.status == 1, "refused lines make the exit status 1: \(imported.output)")
            for part in ["registered IMP001", "refused line 3: ", "in the past", "refused line 5: 2 fields, the header has 6", "refused line 6: notFound: no service 'Z'", "2 registered, 3 refused"] {
                #expect(imported.output.contains(part), "\(part) in \(imported.output)")
            }
            let listed = try await runCommand([hallctl, "appointments", "list", "--date", "2099-01-05", "--socket", socket])
            #expect(listed.status == 0 && listed.output.contains("张*丰") && listed.output.contains("138****5678") && listed.output.contains("王*五"), "\(listed.output)")
            #expect(!listed.output.contains("13812345678"))
            let cancelled = try await runCommand([hallctl, "appointments", "cancel", "IMP003", "--socket", socket])
            #expect(cancelled.status == 0 && cancelled.output.contains("IMP003: cancelled"), "\(cancelled.output)")
            let early = try await runCommand([hallctl, "ticket", "issue", "--appointment", "IMP001", "--socket", socket])
            #expect(early.status == 1 && early.output.contains("too early for appointment 'IMP001'"), "\(early.output)")
            let bad = try await runCommand([hallctl, "appointments", "add", "--service", "A", "--day", "2099-01-05", "--slot", "25:00", "--socket", socket])
            #expect(bad.status == 1 && bad.output.contains("HH:MM"), "\(bad.output)")
            let csvOut = try await runCommand([hallctl, "appointments", "list", "--date", "2099-01-05", "--csv", "--socket", socket])
            #expect(csvOut.output.hasPrefix("code,service,slot,minutes,name,phone,state") && csvOut.output.contains("IMP003,B,2099-01-05 10:00,30,王*五,,cancelled"), "\(csvOut.output)")
            let badState = try await runCommand([hallctl, "appointments", "list", "--state", "gone", "--csv", "--socket", socket])
            #expect(badState.status == 1 && badState.output.contains("state 'gone'"), "an error answer is not printed as CSV: \(badState.output)")
            let services = try await runCommand([hallctl, "services", "--socket", socket])
            #expect(services.status == 0 && services.output.contains("社会保障") && services.output.contains("open"), "\(services.output)")
            let one = try await runCommand([hallctl, "services", "A", "--socket", socket])
            #expect(one.status == 0 && one.output.contains("1. 居民身份证原件") && one.output.contains("收费标准: 不收费"), "\(one.output)")
        }
    }
}
