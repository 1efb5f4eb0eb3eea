import DeviceKit
import Foundation
import HallAPIModels
import HallStore
import Logging

/// The hall all day: tickets issued durably, the queue in its serving order,
/// windows calling, recalling, transferring and completing, 好差评 ratings asked
/// for on the window's keypad, and what the displays show. Every change is in
/// SQLite before the call returns, and announced as an event.
public actor Hall {
    public nonisolated let setup: HallSetup
    /// Gregorian, in the hall's time zone.
    nonisolated let calendar: Calendar
    let database: HallDatabase
    let registry: DeviceRegistry
    let events: any EventPublisher
    let logger: Logger
    let now: @Sendable () -> Date
    /// Prints a ticket on the kiosk's printer; returns the print job's id.
    let printTicket: (@Sendable (Ticket, DeviceID) async throws -> String)?

    private var tickets: [String: Ticket] = [:]
    /// Waiting tickets per service, kept with `tickets` (every change goes through `put`).
    private var waiting: [String: Int] = [:]
    private var windows: [Int: HallWindow] = [:]
    private var lastCalls: [String] = []
    private var ratingTasks: [String: Task<Void, Never>] = [:]
    /// The ticket each window keypad is asking about.
    private var keypadAsking: [DeviceID: String] = [:]
    /// The last call of each called ticket (the first call stays in `calledAt`, for waiting times).
    private var lastCalled: [String: Date] = [:]
    private var today = ""
    /// Bumped on every change of `tickets`: the key of the list cache.
    private var revision = 0
    /// Recent answers of `list(state:)`: kiosks and clerk programs poll the same list
    /// many times between two changes. Kept at most a second, as aging reorders a queue
    /// with time alone.
    private var listCache: [TicketState?: (revision: Int, at: Date, list: [Ticket])] = [:]
    /// Waits between the tries of storing a rating the keypad gave.
    let ratingRetryDelays: [Duration]
    /// Since start: rating writes that failed (each try), ratings given on a keypad
    /// that could not be stored at all, and events that could not be published.
    public private(set) var ratingWriteFailures = 0
    public private(set) var ratingsLost = 0
    public private(set) var publishFailures = 0

    public init(
        setup: HallSetup, database: HallDatabase, registry: DeviceRegistry, events: any EventPublisher, logger: Logger,
        now: @escaping @Sendable () -> Date = { Date() }, printTicket: (@Sendable (Ticket, DeviceID) async throws -> String)? = nil,
        ratingRetryDelays: [Duration] = [.milliseconds(200), .seconds(1), .seconds(3)]
    ) {
        self.ratingRetryDelays = ratingRetryDelays
        self.setup = setup
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = setup.timeZone
        self.calendar = calendar
        self.database = database
        self.registry = registry
        self.events = events
        self.logger = logger
        self.now = now
        self.printTicket = printTicket
        for w in setup.windows {
            windows[w.number] = HallWindow(number: w.number, state: .closed, away: nil, clerk: nil, services: w.services, current: nil)
        }
    }

    /// Loads today's tickets and the windows' states (after a restart).
    public func load() async throws {
        today = day(now())
        for r in try await database.tickets(day: today) { put(Self.ticket(r)) }
        let decoder = JSONDecoder()
        for w in try await database.windows() where windows[w.number] != nil {
            windows[w.number]!.state = WindowState(rawValue: w.state) ?? .closed
            windows[w.number]!.away = w.away.flatMap { try? decoder.decode(AwayNotice.self, from: Data($0.utf8)) }
            windows[w.number]!.clerk = w.clerk.flatMap { try? decoder.decode(ClerkCard.self, from: Data($0.utf8)) }
        }
        for t in tickets.values where t.state == .called || t.state == .serving {
            if let n = t.window { windows[n]?.current = t }
        }
    }

    // MARK: reading

    /// The hall's day of `date` in its time zone: `2026-11-29`.
    public nonisolated func day(_ date: Date) -> String {
        let c = calendar.dateComponents([.year, .month, .day], from: date)
        return String(format: "%04d-%02d-%02d", c.year!, c.month!, c.day!)
    }

    func minuteOfDay(_ date: Date) -> Int {
        let c = calendar.dateComponents([.hour, .minute], from: date)
        return c.hour! * 60 + c.minute!
    }

    /// A new day starts a new queue: yesterday's waiting tickets are not called today.
    private func rollDay() {
        let d = day(now())
        if d != today {
            today = d
            tickets = tickets.filter { $0.value.day == d }
            revision += 1
            waiting = [:]
            for t in tickets.values where t.state == .waiting { waiting[t.service, default: 0] += 1 }
            lastCalls = []
        }
    }

    public func ticket(_ idOrNumber: String) -> Ticket? {
        if let t = tickets[idOrNumber] { return withAhead(t) }
        return tickets.values.filter { $0.number == idOrNumber }.max { $0.issuedAt < $1.issuedAt }.map(withAhead)
    }

    public func list(state: TicketState?) -> [Ticket] {
        rollDay()
        // Each service's queue is put in serving order once; a waiting ticket's place
        // in it is the number ahead of it (asking per ticket was quadratic, and the
        // actor served nothing else meanwhile: kiosks poll this list).
        let now = now()
        if let cached = listCache[state], cached.revision == revision, abs(now.timeIntervalSince(cached.at)) < 1 { return cached.list }
        var place: [String: Int] = [:]
        for (_, queue) in Dictionary(grouping: tickets.values.filter { $0.state == .waiting }, by: \.service) {
            let order = QueueOrder.ordered(queue.map { QueueOrder.Candidate(id: $0.id, priority: $0.priority, queuedAt: $0.queuedAt, slot: $0.slot) }, now: now, agingBound: setup.agingBound)
            for (i, c) in order.enumerated() { place[c.id] = i }
        }
        let list = tickets.values.filter { state == nil || $0.state == state }.sorted { ($0.issuedAt, $0.id) < ($1.issuedAt, $1.id) }.map { t in
            var t = t
            t.waitingAhead = t.state == .waiting ? place[t.id] : nil
            return t
        }
        listCache[state] = (revision, now, list)
        return list
    }

    public func windowList() -> [HallWindow] { windows.values.sorted { $0.number < $1.number } }

    public func waitingCounts() -> [String: Int] {
        var counts = waiting
        for s in setup.services where counts[s.code] == nil { counts[s.code] = 0 }
        return counts
    }

    /// Records a ticket's new state in memory, keeping the waiting counts.
    private func put(_ t: Ticket) {
        if tickets[t.id]?.state == .waiting, let old = tickets[t.id] { waiting[old.service, default: 0] -= 1 }
        if t.state == .waiting { waiting[t.service, default: 0] += 1 }
        tickets[t.id] = t
        revision += 1
    }

    private func candidates(_ filter: (Ticket) -> Bool) -> [QueueOrder.Candidate] {
        tickets.values.filter { $0.state == .waiting && filter($0) }.map {
            QueueOrder.Candidate(id: $0.id, priority: $0.priority, queuedAt: $0.queuedAt, slot: $0.slot)
        }
    }

    /// People ahead of a waiting ticket in its service's queue.
    private func withAhead(_ t: Ticket) -> Ticket {
        var t = t
        guard t.state == .waiting else {
            t.waitingAhead = nil
            return t
        }
        let me = QueueOrder.Candidate(id: t.id, priority: t.priority, queuedAt: t.queuedAt, slot: t.slot)
        t.waitingAhead = QueueOrder.ahead(of: me, in: candidates { $0.service == t.service }, now: now(), agingBound: setup.agingBound)
        return t
    }

    // MARK: tickets

    /// Issues a ticket, on disk before it returns; prints it on the kiosk printer when asked.
    public func issue(service code: String, priority: TicketPriority = .normal, appointment: String? = nil, print: Bool = false) async throws -> Ticket {
        rollDay()
        guard let service = setup.service(code) else {
            throw DeviceError(.notFound, "no service '\(code)' (services: \(setup.services.map(\.code).joined(separator: ", ")))", reasons: ["field:service"])
        }
        let at = now()
        if let opens = service.opens, let closes = service.closes {
            let m = minuteOfDay(at)
            guard m >= opens && m < closes else {
                throw DeviceError(
                    .sequenceError, "\(service.name) issues tickets \(String(format: "%02d:%02d", opens / 60, opens % 60))-\(String(format: "%02d:%02d", closes / 60, closes % 60))",
                    reasons: ["field:service"])
            }
        }
        let record: TicketRecord
        do {
            record = try await database.issueTicket(
                day: today, service: code, prefix: code, priority: priority.rawValue, appointment: appointment, at: at.timeIntervalSince1970,
                dailyCap: service.dailyCap, id: UUID().uuidString.lowercased())
        } catch LedgerError.dailyCapReached(let cap) {
            throw DeviceError(.sequenceError, "\(service.name) has issued its \(cap) tickets for today", reasons: ["field:service"])
        } catch LedgerError.unknownAppointment {
            throw DeviceError(.notFound, "no appointment '\(appointment ?? "")' for service \(code)", reasons: ["field:appointment"])
        } catch LedgerError.appointmentUsed(let ticket) {
            throw DeviceError(.conflict, "appointment '\(appointment ?? "")' was already checked in (ticket \(tickets[ticket]?.number ?? ticket))", reasons: ["field:appointment"])
        }
        var ticket = Self.ticket(record)
        put(ticket)
        await publish("ticket.issued", ticket)
        // A new ordinary ticket is the last of its queue: everyone waiting is ahead
        // (no sorting or scanning of the queue on the hot path).
        let issued = priority == .normal && appointment == nil ? { var t = ticket; t.waitingAhead = (waiting[code] ?? 1) - 1; return t }() : withAhead(ticket)
        if print, let printer = setup.kioskPrinter, let printTicket {
            do {
                ticket.printJob = try await printTicket(issued, printer)
            } catch {
                ticket.printError = "\(error)"
                logger.warning("ticket \(ticket.number) not printed: \(error)")
            }
            try await store(ticket)
            var printed = issued
            printed.printJob = ticket.printJob
            printed.printError = ticket.printError
            return printed
        }
        return issued
    }

    /// Registers an appointment (from the booking system) that a citizen checks in with its code.
    public func addAppointment(code: String, service: String, slot: Date) async throws {
        guard setup.service(service) != nil else { throw DeviceError(.notFound, "no service '\(service)'", reasons: ["field:service"]) }
        try await database.saveAppointment(AppointmentRecord(code: code, service: service, slot: slot.timeIntervalSince1970))
    }

    // MARK: windows

    private func openWindow(_ n: Int) throws -> (HallWindowConfig, HallWindow) {
        guard let config = setup.window(n), let w = windows[n] else {
            throw DeviceError(.notFound, "no window \(n) (windows: \(setup.windows.map { String($0.number) }.joined(separator: ", ")))")
        }
        guard w.state == .open else { throw DeviceError(.sequenceError, "window \(n) is \(w.state.rawValue): open it first") }
        return (config, w)
    }

    /// Calls the next ticket this window may serve; nil when nobody waits for it.
    public func callNext(window n: Int) async throws -> Ticket? {
        rollDay()
        let (config, w) = try openWindow(n)
        if let current = w.current, current.state == .called || current.state == .serving {
            throw DeviceError(.sequenceError, "window \(n) is still serving \(current.number): complete, no-show or transfer it first")
        }
        guard let next = QueueOrder.next(candidates { config.serves($0.service) }, now: now(), agingBound: setup.agingBound), var t = tickets[next.id] else {
            return nil
        }
        t.state = .called
        t.calledAt = now()
        t.window = n
        t.clerk = w.clerk?.name
        try await store(t)
        windows[n]!.current = t
        await announceCall(t, window: config)
        await publish("ticket.called", t)
        return t
    }

    public func recall(window n: Int) async throws -> Ticket {
        let (config, w) = try openWindow(n)
        guard var t = w.current, t.state == .called else { throw DeviceError(.sequenceError, "window \(n) has no called ticket to recall") }
        guard t.recalls < setup.recallMax else {
            throw DeviceError(.sequenceError, "\(t.number) was recalled \(t.recalls) times (at most \(setup.recallMax)): mark it no-show")
        }
        if let last = lastCalled[t.id] ?? t.calledAt, now().timeIntervalSince(last) < Double(setup.recallMinInterval.components.seconds) {
            throw DeviceError(.sequenceError, "\(t.number) was called \(Int(now().timeIntervalSince(last))) s ago: recall after \(setup.recallMinInterval.components.seconds) s")
        }
        t.recalls += 1
        lastCalled[t.id] = now()
        try await store(t)
        windows[n]!.current = t
        await announceCall(t, window: config)
        await publish("ticket.called", t, extra: ["recall": .number(Double(t.recalls))])
        return t
    }

    public func noShow(window n: Int) async throws -> Ticket {
        let (_, w) = try openWindow(n)
        guard var t = w.current, t.state == .called else { throw DeviceError(.sequenceError, "window \(n) has no called ticket") }
        t.state = .noShow
        t.finishedAt = now()
        try await store(t)
        windows[n]!.current = nil
        await publish("ticket.finished", t)
        return t
    }

    /// Sends the ticket being served to another service's queue, keeping its issue time.
    public func transfer(window n: Int, to service: String) async throws -> Ticket {
        let (_, w) = try openWindow(n)
        guard var t = w.current, t.state == .called || t.state == .serving else { throw DeviceError(.sequenceError, "window \(n) is serving nobody") }
        guard setup.service(service) != nil else { throw DeviceError(.notFound, "no service '\(service)'", reasons: ["field:service"]) }
        guard service != t.service else { throw DeviceError(.invalidData, "\(t.number) is already in service \(service)", reasons: ["field:service"]) }
        t.transferredFrom = t.service
        t.service = service
        t.state = .waiting
        // It keeps its place by its original issue time in the new queue.
        t.queuedAt = t.issuedAt
        t.window = nil
        t.calledAt = nil
        t.recalls = 0
        try await store(t)
        windows[n]!.current = nil
        await publish("ticket.transferred", t)
        return withAhead(t)
    }

    /// Completes the service and asks the window's keypad for the rating (一次一评).
    public func complete(window n: Int) async throws -> Ticket {
        let (config, w) = try openWindow(n)
        guard var t = w.current, t.state == .called || t.state == .serving else { throw DeviceError(.sequenceError, "window \(n) is serving nobody") }
        t.state = .done
        t.finishedAt = now()
        try await store(t)
        windows[n]!.current = nil
        await publish("ticket.finished", t)
        if let keypad = config.keypad { askRating(t, keypad: keypad) }
        return t
    }

    private func askRating(_ t: Ticket, keypad id: DeviceID) {
        let timeout = setup.ratingTimeout
        // The citizen before has left the window: their request ends (stored as not
        // rated) before the keypad asks the next one, who must not inherit "busy".
        let previous = keypadAsking[id].flatMap { ratingTasks[$0] }
        previous?.cancel()
        keypadAsking[id] = t.id
        ratingTasks[t.id] = Task { [registry] in
            await previous?.value
            let level: RatingLevel?
            if Task.isCancelled {
                level = nil
            } else if let keypad = await registry.device(id) as? any EvaluationKeypad {
                do {
                    // The clerk's program shows 请评价 from this event until the rating or the deadline.
                    await self.publishRatingRequested(t, keypad: id, timeout: timeout)
                    level = try await keypad.requestRating(ticket: t.number, timeout: timeout)
                } catch {
                    logger.info("no rating for \(t.number): \(error)")
                    level = nil
                }
            } else {
                level = nil
            }
            // Stored even when this request was ended early: a fresh task, as a
            // cancelled one would have its database write refused.
            await Task { await self.storeKeypadRating(t, level: level, keypad: id) }.value
            await self.ratingDone(t.id, keypad: id)
        }
    }

    private func publishRatingRequested(_ t: Ticket, keypad: DeviceID, timeout: Duration) async {
        let deadline = now().addingTimeInterval(Double(timeout.components.seconds) + Double(timeout.components.attoseconds) / 1e18)
        await publish(
            NewEvent(
                type: EventType.ratingRequested, device: keypad,
                data: [
                    "ticket": .string(t.id), "number": .string(t.number), "window": t.window.map { .number(Double($0)) } ?? .null,
                    "keypad": .string(keypad.rawValue), "deadline": .string(Timestamp.string(deadline)),
                ]))
    }

    /// Stores what the citizen pressed (or that they did not rate). A write that
    /// fails is tried again after each of `ratingRetryDelays`; one that still fails
    /// is logged at error with everything pressed, published as `rating.failed` and
    /// counted: nothing the citizen pressed disappears without a trace.
    private func storeKeypadRating(_ t: Ticket, level: RatingLevel?, keypad: DeviceID) async {
        var lastError: (any Error)?
        for attempt in 0...ratingRetryDelays.count {
            if attempt > 0 { try? await Task.sleep(for: ratingRetryDelays[attempt - 1]) }
            do {
                try await rate(t.id, level: level, channel: "evaluator")
                return
            } catch let e as DeviceError where e.code == .conflict || e.code == .sequenceError || e.code == .notFound {
                // Rated another way first, or no longer ratable: nothing is lost.
                logger.info("keypad rating of \(t.number) not stored: \(e.message)")
                return
            } catch {
                lastError = error
                ratingWriteFailures += 1
                logger.warning(
                    "storing the rating of \(t.number) failed (try \(attempt + 1) of \(ratingRetryDelays.count + 1)): \(error)",
                    metadata: ["ticket": "\(t.id)", "device": "\(keypad)"])
            }
        }
        ratingsLost += 1
        let error = lastError.map { "\($0)" } ?? "unknown"
        logger.error(
            "the rating of \(t.number) could not be stored: level \(level?.rawValue ?? "none"), window \(t.window.map(String.init) ?? "?"): \(error)",
            metadata: ["ticket": "\(t.id)", "device": "\(keypad)", "window": "\(t.window.map(String.init) ?? "")"])
        await publish(
            NewEvent(
                type: EventType.ratingFailed, device: keypad,
                data: [
                    "ticket": .string(t.id), "number": .string(t.number), "window": t.window.map { .number(Double($0)) } ?? .null,
                    "level": level.map { .string($0.rawValue) } ?? .null, "error": .string(error),
                ]))
    }

    /// Publishes `event`; a failure is logged and counted, never silently dropped.
    private func publish(_ event: NewEvent) async {
        do {
            _ = try await events.publish(event)
        } catch {
            publishFailures += 1
            logger.error("event \(event.type) could not be published: \(error)", metadata: ["ticket": "\(event.data["ticket"]?.stringValue ?? "")"])
        }
    }

    private func ratingDone(_ ticket: String, keypad: DeviceID) {
        ratingTasks[ticket] = nil
        if keypadAsking[keypad] == ticket { keypadAsking[keypad] = nil }
    }

    /// Waits for the rating requests under way (tests, shutdown).
    public func settleRatings() async {
        for task in ratingTasks.values { await task.value }
    }

    /// Stores the one rating of a completed ticket; a second is a `conflict`.
    @discardableResult
    public func rate(_ idOrNumber: String, level: RatingLevel?, channel: String) async throws -> Rating {
        guard let t = ticket(idOrNumber) else { throw DeviceError(.notFound, "no ticket '\(idOrNumber)' today") }
        guard t.state == .done, let window = t.window else {
            throw DeviceError(.sequenceError, "\(t.number) is \(t.state.rawValue): only a completed service is rated")
        }
        let rating = Rating(
            ticket: t.id, number: t.number, service: t.service, window: window, clerk: t.clerk, level: level, stars: level?.stars, time: now(), channel: channel)
        do {
            try await database.saveRating(
                RatingRecord(
                    ticket: t.id, number: t.number, service: t.service, window: window, clerk: t.clerk, level: level?.rawValue,
                    time: rating.time.timeIntervalSince1970, channel: channel))
        } catch LedgerError.alreadyRated {
            throw DeviceError(.conflict, "\(t.number) is already rated: one rating per service (一次一评)")
        }
        // Rated another way (app, SMS, paper): the keypad stops asking.
        if channel != "evaluator" { ratingTasks[t.id]?.cancel() }
        await publish(
            NewEvent(
                type: EventType.keypadRating, device: setup.window(window)?.keypad,
                data: [
                    "ticket": .string(t.id), "number": .string(t.number), "window": .number(Double(window)), "channel": .string(channel),
                    "level": level.map { .string($0.rawValue) } ?? .null, "rated": .bool(level != nil),
                ]))
        return rating
    }

    public func ratings(from: Date, to: Date, window: Int?) async throws -> [Rating] {
        try await database.ratings(from: from.timeIntervalSince1970, to: to.timeIntervalSince1970, window: window).map(Self.rating)
    }

    // MARK: window status

    public func setStatus(window n: Int, state: WindowState, away: AwayNotice?) async throws -> HallWindow {
        guard let config = setup.window(n), var w = windows[n] else { throw DeviceError(.notFound, "no window \(n)") }
        if state == .away {
            guard let away, !away.reason.isEmpty else { throw DeviceError(.invalidData, "away needs a reason (去向留言)", reasons: ["field:away.reason"]) }
            w.away = away
        } else {
            w.away = nil
        }
        if state != .open, let current = w.current, current.state == .called || current.state == .serving {
            throw DeviceError(.sequenceError, "window \(n) is serving \(current.number): complete or transfer it first")
        }
        w.state = state
        windows[n] = w
        try await storeWindow(w)
        await showStatus(w, config: config)
        await publish(window: w)
        return w
    }

    /// Sets the clerk at a window (岗位牌); a backup clerk on an open window is a clerk change.
    public func setClerk(window n: Int, _ card: ClerkCard) async throws -> HallWindow {
        guard let config = setup.window(n), var w = windows[n] else { throw DeviceError(.notFound, "no window \(n)") }
        guard !card.name.isEmpty else { throw DeviceError(.invalidData, "a clerk card needs a name", reasons: ["field:name"]) }
        w.clerk = card
        windows[n] = w
        try await storeWindow(w)
        await showStatus(w, config: config)
        await publish(window: w)
        return w
    }

    // MARK: keypad keys (hall-bus window callers)

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

    // MARK: displays

    private func announceCall(_ t: Ticket, window: HallWindowConfig) async {
        let text = "\(t.number) 请到\(window.number)号窗口"
        if let id = window.display { await show(id, [text], effect: .flash) }
        lastCalls.insert("\(t.number)→\(window.number)号", at: 0)
        lastCalls = Array(lastCalls.prefix(4))
        if let main = setup.mainDisplay { await show(main, lastCalls, effect: .static) }
    }

    private func showStatus(_ w: HallWindow, config: HallWindowConfig) async {
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
    private func show(_ id: DeviceID, _ lines: [String], effect: DisplayEffect) async {
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

    // MARK: storing and events

    private func store(_ t: Ticket) async throws {
        try await database.saveTicket(Self.record(t))
        put(t)
    }

    private func storeWindow(_ w: HallWindow) async throws {
        let encoder = JSONEncoder()
        try await database.saveWindow(
            WindowRecord(
                number: w.number, state: w.state.rawValue, away: w.away.flatMap { try? String(decoding: encoder.encode($0), as: UTF8.self) },
                clerk: w.clerk.flatMap { try? String(decoding: encoder.encode($0), as: UTF8.self) }, current: w.current?.id))
    }

    private func publish(_ type: String, _ t: Ticket, extra: [String: JSONValue] = [:]) async {
        guard var data = try? JSONValue(encoding: t) else { return }
        if case .object(var o) = data {
            for (k, v) in extra { o[k] = v }
            data = .object(o)
        }
        await publish(NewEvent(type: type, data: data))
    }

    private func publish(window w: HallWindow) async {
        guard let data = try? JSONValue(encoding: w) else { return }
        await publish(NewEvent(type: "window.status", data: data))
    }

    static func ticket(_ r: TicketRecord) -> Ticket {
        Ticket(
            id: r.id, number: r.number, service: r.service, day: r.day, priority: TicketPriority(rawValue: r.priority) ?? .normal, appointment: r.appointment,
            slot: r.slot.map(Date.init(timeIntervalSince1970:)), state: TicketState(rawValue: r.state) ?? .waiting,
            issuedAt: Date(timeIntervalSince1970: r.issued_at), queuedAt: Date(timeIntervalSince1970: r.queued_at),
            calledAt: r.called_at.map(Date.init(timeIntervalSince1970:)), finishedAt: r.finished_at.map(Date.init(timeIntervalSince1970:)), window: r.window,
            clerk: r.clerk, recalls: r.recalls, transferredFrom: r.transferred_from, printJob: r.print_job, printError: r.print_error, waitingAhead: nil)
    }

    static func record(_ t: Ticket) -> TicketRecord {
        let issueService = t.transferredFrom.flatMap { _ in String(t.number.prefix { $0.isLetter }) } ?? t.service
        return TicketRecord(
            id: t.id, day: t.day, service: t.service, seq: Int(t.number.drop { $0.isLetter }) ?? 0, number: t.number, priority: t.priority.rawValue,
            appointment: t.appointment, slot: t.slot?.timeIntervalSince1970, state: t.state.rawValue, issued_at: t.issuedAt.timeIntervalSince1970,
            queued_at: t.queuedAt.timeIntervalSince1970, called_at: t.calledAt?.timeIntervalSince1970, finished_at: t.finishedAt?.timeIntervalSince1970,
            window: t.window, clerk: t.clerk, recalls: t.recalls, transferred_from: t.transferredFrom, print_job: t.printJob, print_error: t.printError,
            issue_service: issueService)
    }

    static func rating(_ r: RatingRecord) -> Rating {
        let level = r.level.flatMap(RatingLevel.init(rawValue:))
        return Rating(
            ticket: r.ticket, number: r.number, service: r.service, window: r.window, clerk: r.clerk, level: level, stars: level?.stars,
            time: Date(timeIntervalSince1970: r.time), channel: r.channel)
    }
}
