import DeviceKit
import Foundation
import HallModel
import Logging
import Synchronization

/// The hall all day: tickets issued durably, the queue in its serving order,
/// windows calling, recalling, transferring and completing, 好差评 ratings asked
/// for on the window's keypad, and what the displays show. Every change is in the
/// hall's store before the call returns, and announced as an event. The rules are
/// HallModel's (`QueueOrder`, `TicketMachine`); this actor keeps the day's state,
/// stores it and carries out the actions the rules return.
///
/// Tickets: Hall+Tickets.swift; ratings: Hall+Ratings.swift; windows and keys:
/// Hall+Windows.swift; what the displays show: Hall+Displays.swift.
public actor Hall {
    public nonisolated let setup: HallSetup
    /// Gregorian, in the hall's time zone.
    nonisolated let calendar: Calendar
    let store: any HallStore
    let machine: TicketMachine
    let registry: DeviceRegistry
    let events: any EventPublisher
    let logger: Logger
    let now: @Sendable () -> Date
    /// Prints a ticket on the kiosk's printer; returns the print job's id.
    let printTicket: (@Sendable (Ticket, DeviceID) async throws -> String)?
    /// Has a call said on a speaker: queues it and returns (the hall never waits for a sound).
    let announce: (@Sendable (DeviceID, SpokenCall) async -> Void)?
    /// Prints a one-time notice on a window's printer; returns the print job's id.
    let printNotice: (@Sendable (Notice, DeviceID) async throws -> String)?

    var tickets: [String: Ticket] = [:]
    /// Waiting tickets per service, kept with `tickets` (every change goes through `put`).
    var waiting: [String: Int] = [:] { didSet { revision += 1 } }
    var windows: [Int: HallWindow] = [:] { didSet { revision += 1 } }
    /// In a shared hall: the hall's event sequence the last `load` had read before it
    /// loaded; events up to it are in what was loaded, and are not applied again.
    var loadedThrough: Int64 = 0
    /// In a hall shared by several hallds: the windows whose devices another halld has,
    /// as their events and the store tell. Shown, never operated from here.
    var remoteWindows: [Int: HallWindow] = [:] { didSet { revision += 1 } }
    var lastCalls: [String] = []
    /// Services with citizens waiting and no open window for them (服务双岗).
    var unstaffedServices: Set<String> = []
    /// The roster by staff id, removed clerks included.
    var roster: [String: Clerk] = [:]
    var ratingTasks: [String: Task<Void, Never>] = [:]
    /// The ticket each window keypad is asking about.
    var keypadAsking: [DeviceID: String] = [:]
    /// The last call of each called ticket (the first call stays in `calledAt`, for waiting times).
    var lastCalled: [String: Date] = [:]
    var today = ""
    /// Where the hall's events go, when it issues tickets and their events in one
    /// transaction of the hall's store (a single PC's SQLite with its event log, a shared
    /// hall's PostgreSQL), asked once.
    lazy var ticketLog: (any TicketIssuing)? = (events as? any TicketIssuing).flatMap { $0.keepsTickets(of: store) ? $0 : nil }
    /// The instants of the day `rollDay()` last found (empty before its first call and
    /// after a load), published for `isCurrent(_:)`.
    var dayInstants = Date.distantPast..<Date.distantPast { didSet { published.withLock { $0.day = dayInstants } } }
    /// Bumped on every change of `tickets`, `waiting` and the windows: the key of the
    /// list cache and of `summary(ifChangedSince:)`.
    var revision = 0 { didSet { published.withLock { $0.revision = revision } } }
    /// The revision and the day it belongs to (`dayInstants`), readable without waiting
    /// for the actor: `isCurrent(_:)`.
    nonisolated let published = Mutex<(revision: Int, day: Range<Date>)>((0, Date.distantPast..<Date.distantPast))
    /// Recent answers of `list(state:)`: kiosks and clerk programs poll the same list
    /// many times between two changes. Kept at most a second, as aging reorders a queue
    /// with time alone.
    var listCache: [TicketState?: (revision: Int, at: Date, generation: Int, list: [Ticket])] = [:]
    /// Counts the lists `list(state:)` built: callers that keep a list encoded know by it
    /// whether theirs is still the current one.
    var listGeneration = 0
    /// Waits between the tries of storing a rating the keypad gave.
    let ratingRetryDelays: [Duration]
    /// Since start: rating writes that failed (each try), ratings given on a keypad
    /// that could not be stored at all, and events that could not be published.
    public internal(set) var ratingWriteFailures = 0
    public internal(set) var ratingsLost = 0
    public internal(set) var publishFailures = 0

    public init(
        setup: HallSetup, store: any HallStore, registry: DeviceRegistry, events: any EventPublisher, logger: Logger,
        now: @escaping @Sendable () -> Date = { Date() }, printTicket: (@Sendable (Ticket, DeviceID) async throws -> String)? = nil,
        announce: (@Sendable (DeviceID, SpokenCall) async -> Void)? = nil,
        printNotice: (@Sendable (Notice, DeviceID) async throws -> String)? = nil,
        ratingRetryDelays: [Duration] = [.milliseconds(200), .seconds(1), .seconds(3)]
    ) {
        self.announce = announce
        self.printNotice = printNotice
        self.ratingRetryDelays = ratingRetryDelays
        self.setup = setup
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = setup.timeZone
        self.calendar = calendar
        self.store = store
        self.machine = TicketMachine(setup)
        self.registry = registry
        self.events = events
        self.logger = logger
        self.now = now
        self.printTicket = printTicket
        for w in setup.windows {
            windows[w.number] = HallWindow(number: w.number, state: .closed, away: nil, clerk: nil, services: w.services, current: nil)
        }
    }

    /// Loads today's tickets and the windows' states (after a restart; in a shared
    /// hall, after each reconnection), replacing what was kept.
    public func load(through hallSequence: Int64 = 0) async throws {
        let day = day(now())
        let stored = try await store.tickets(day: day)
        let storedWindows = try await store.windows()
        let clerks = try await store.clerks()
        roster = Dictionary(clerks.map { ($0.staffId, $0) }) { _, last in last }
        today = day
        dayInstants = Date.distantPast..<Date.distantPast
        loadedThrough = hallSequence
        (tickets, waiting) = ([:], [:])
        for t in stored { put(t) }
        for n in windows.keys { windows[n]?.current = nil }
        remoteWindows = [:]
        for w in storedWindows {
            if windows[w.number] != nil {
                windows[w.number]!.state = w.state
                windows[w.number]!.away = w.away
                windows[w.number]!.clerk = w.clerk
            } else if let services = w.services {
                remoteWindows[w.number] = HallWindow(number: w.number, state: w.state, away: w.away, clerk: w.clerk, services: services)
            }
        }
        for t in tickets.values where t.state.isAtWindow {
            if let n = t.window {
                windows[n]?.current = t
                remoteWindows[n]?.current = t
            }
        }
    }

    // MARK: reading

    /// The hall's day of `date` in its time zone: `2026-11-29`.
    public nonisolated func day(_ date: Date) -> String { WorkCalendar.dayText(date, calendar: calendar) }

    /// A new day starts a new queue: yesterday's waiting tickets are not called today.
    func rollDay() {
        // Most calls fall in the day the last one found: no calendar work then (the
        // day's text, from date components, was a twentieth of a ticket issue).
        let at = now()
        if dayInstants.contains(at) { return }
        let d = day(at)
        if d != today {
            today = d
            tickets = tickets.filter { $0.value.day == d }
            revision += 1
            waiting = [:]
            for t in tickets.values where t.state == .waiting { waiting[t.service, default: 0] += 1 }
            lastCalls = []
        }
        // Published after the revision: a poller never finds yesterday's revision current in the new day.
        let start = calendar.startOfDay(for: at)
        dayInstants = start..<(calendar.date(byAdding: .day, value: 1, to: start) ?? start)
    }

    public func ticket(_ idOrNumber: String) -> Ticket? {
        if let t = tickets[idOrNumber] { return withAhead(t) }
        return tickets.values.filter { $0.number == idOrNumber }.max { $0.issuedAt < $1.issuedAt }.map(withAhead)
    }

    public func list(state: TicketState?) -> [Ticket] { currentList(state: state).list }

    /// The tickets of `state` (all: nil), or nil when the caller's copy, the list of
    /// `generation` `known`, is still current: kiosks and clerk programs poll the list
    /// far more often than it changes, and the API keeps the last one encoded.
    public func list(state: TicketState?, ifChangedSince known: Int?) -> (generation: Int, list: [Ticket])? {
        let current = currentList(state: state)
        return current.generation == known ? nil : current
    }

    func currentList(state: TicketState?) -> (generation: Int, list: [Ticket]) {
        rollDay()
        // Each service's queue is put in serving order once; a waiting ticket's place
        // in it is the number ahead of it (asking per ticket was quadratic, and the
        // actor served nothing else meanwhile: kiosks poll this list).
        let now = now()
        if let cached = listCache[state], cached.revision == revision, abs(now.timeIntervalSince(cached.at)) < 1 { return (cached.generation, cached.list) }
        var place: [String: Int] = [:]
        if state == nil || state == .waiting {
            var queues: [String: [QueueOrder.Candidate]] = [:]
            for t in tickets.values where t.state == .waiting { queues[t.service, default: []].append(QueueOrder.Candidate(t)) }
            place.reserveCapacity(queues.values.reduce(0) { $0 + $1.count })
            for queue in queues.values {
                for (i, c) in QueueOrder.ordered(queue, now: now, agingBound: setup.agingBound).enumerated() { place[c.id] = i }
            }
        }
        // In issue order, then by id: the keys are sorted, not the tickets (a ticket is
        // twenty fields, copied whole at every move of a sort).
        var keys: [(at: Date, id: String)] = []
        for t in tickets.values where state == nil || t.state == state { keys.append((t.issuedAt, t.id)) }
        keys.sort { $0.at != $1.at ? $0.at < $1.at : $0.id < $1.id }
        var list: [Ticket] = []
        list.reserveCapacity(keys.count)
        for key in keys {
            guard var t = tickets[key.id] else { continue }
            t.waitingAhead = t.state == .waiting ? place[key.id] : nil
            list.append(t)
        }
        listGeneration += 1
        listCache[state] = (revision, now, listGeneration, list)
        return (listGeneration, list)
    }

    /// The hall's windows: this halld's and, in a shared hall, the others'.
    public func windowList() -> [HallWindow] { windows.merging(remoteWindows) { mine, _ in mine }.values.sorted { $0.number < $1.number } }

    /// The hall's windows and waiting counts (`GET /v1/hall`) in one call, or nil when
    /// nothing changed since `revision` (the caller still has them: boards and kiosks
    /// poll the hall far more often than it changes).
    public func summary(ifChangedSince known: Int?) -> (revision: Int, windows: [HallWindow], waiting: [String: Int])? {
        rollDay()
        if known == revision { return nil }
        return (revision, windowList(), waitingCounts())
    }

    /// Whether what `summary` gave at `revision` is still the hall: nothing changed
    /// since and the day has not turned (a new day starts a new queue). Read without
    /// entering the actor, so a board polling an unchanged hall waits for nothing.
    public nonisolated func isCurrent(_ revision: Int) -> Bool {
        let (current, day) = published.withLock { $0 }
        return current == revision && day.contains(now())
    }

    public func waitingCounts() -> [String: Int] {
        var counts = waiting
        for s in setup.services where counts[s.code] == nil { counts[s.code] = 0 }
        return counts
    }

    /// The figures of `date` (`YYYY-MM-DD`, the hall's day).
    public func stats(date: String) async throws -> HallStats { try await stats(period: date) }

    /// The figures of a day (`2026-11-29`), a month (`2026-11`) or a year (`2026`) of the
    /// hall's days: per service, window, clerk (by staff id) and unit, with the bad
    /// ratings' follow-ups.
    public func stats(period: String, field: String = "date") async throws -> HallStats {
        let parts = period.split(separator: "-", omittingEmptySubsequences: false).map { Int($0) }
        guard (1...3).contains(parts.count), parts.allSatisfy({ $0 != nil }), period.count == [4, 7, 10][parts.count - 1] else {
            throw HallError.invalid("expected a day YYYY-MM-DD, a month YYYY-MM or a year YYYY, found \(period)", field: field)
        }
        let start: Date?, end: Date?
        switch parts.count {
        case 3:
            start = dayStart(period)
            end = start.flatMap { calendar.date(byAdding: .day, value: 1, to: $0) }
        case 2:
            start = calendar.date(from: DateComponents(year: parts[0]!, month: parts[1]!, day: 1)).flatMap { (1...12).contains(parts[1]!) ? $0 : nil }
            end = start.flatMap { calendar.date(byAdding: .month, value: 1, to: $0) }
        default:
            start = calendar.date(from: DateComponents(year: parts[0]!, month: 1, day: 1))
            end = start.flatMap { calendar.date(byAdding: .year, value: 1, to: $0) }
        }
        guard let start, let end else { throw HallError.invalid("\(period) is no day, month or year of the calendar", field: field) }
        var tickets: [Ticket] = []
        var day = start
        while day < end {
            tickets += try await store.tickets(day: self.day(day))
            day = calendar.date(byAdding: .day, value: 1, to: day)!
        }
        let ids = Set(tickets.map(\.id))
        // A ticket of the period's last day may be rated just after midnight.
        let ratings = try await store.ratings(from: start, to: end.addingTimeInterval(86_400), window: nil).filter { ids.contains($0.ticket) }
        let followUps = try await store.followUps().filter { ids.contains($0.ticket) }
        let referrals = try await store.referrals(from: start, to: end)
        return HallStats.compute(
            date: period, tickets: tickets, ratings: ratings, roster: Array(roster.values), followUps: followUps, referrals: referrals, now: now(),
            limits: Dictionary(uniqueKeysWithValues: setup.services.map { ($0.code, (wait: $0.waitLimitMinutes, service: $0.serviceLimitMinutes)) }))
    }

    /// The figures of `date` for every hall of the shared database (a district).
    public func districtStats(date: String) async throws -> DistrictStats {
        guard let shared = store as? any SharedHallStore else {
            throw HallError.notFound("this hall is kept in this PC's SQLite: only a hall in a shared PostgreSQL store has a district (hall=all)", field: "hall")
        }
        return DistrictStats.compute(date: date, days: try await shared.district(day: date))
    }

    /// Records a ticket's new state in memory, keeping the waiting counts.
    func put(_ t: Ticket) {
        if tickets[t.id]?.state == .waiting, let old = tickets[t.id] { waiting[old.service, default: 0] -= 1 }
        if t.state == .waiting { waiting[t.service, default: 0] += 1 }
        tickets[t.id] = t
        revision += 1
    }

    func candidates(_ filter: (Ticket) -> Bool) -> [QueueOrder.Candidate] {
        tickets.values.filter { $0.state == .waiting && filter($0) }.map(QueueOrder.Candidate.init)
    }

    /// People ahead of a waiting ticket in its service's queue.
    func withAhead(_ t: Ticket) -> Ticket {
        var t = t
        guard t.state == .waiting else {
            t.waitingAhead = nil
            return t
        }
        t.waitingAhead = QueueOrder.ahead(of: QueueOrder.Candidate(t), in: candidates { $0.service == t.service }, now: now(), agingBound: setup.agingBound)
        return t
    }

    // MARK: storing and events

    /// Stores a ticket's new state, then keeps it in memory.
    func save(_ t: Ticket) async throws {
        try await store.updateTicket(t, from: tickets[t.id]?.state ?? t.state)
        put(t)
    }

    func storeWindow(_ w: HallWindow) async throws {
        try await store.saveWindow(StoredWindow(w))
    }

    /// Publishes `event`; a failure is logged and counted, never silently dropped.
    func publish(_ event: NewEvent) async {
        do {
            _ = try await events.publish(event)
        } catch {
            publishFailures += 1
            logger.error("event \(event.type) could not be published: \(error)", metadata: ["ticket": "\(event.data["ticket"]?.stringValue ?? "")"])
        }
    }

    func publish(_ type: String, _ t: Ticket, extra: [String: JSONValue] = [:]) async {
        var data = t.jsonValue
        if case .object(var o) = data {
            for (k, v) in extra { o[k] = v }
            data = .object(o)
        }
        await publish(NewEvent(type: type, data: data))
    }

    func publish(window w: HallWindow) async {
        guard let data = try? JSONValue(encoding: w) else { return }
        await publish(NewEvent(type: "window.status", data: data))
    }
}

/// A call to be said aloud: the ticket's number, the window, the service's name.
public struct SpokenCall: Sendable, Equatable {
    public var ticket: String
    public var number: String
    public var window: Int
    public var service: String
    public var recall: Bool

    public init(ticket: String, number: String, window: Int, service: String, recall: Bool) {
        self.ticket = ticket
        self.number = number
        self.window = window
        self.service = service
        self.recall = recall
    }
}

extension QueueOrder.Candidate {
    init(_ t: Ticket) { self.init(id: t.id, priority: t.priority, queuedAt: t.queuedAt, slot: t.slot) }
}
