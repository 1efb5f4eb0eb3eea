import DeviceKit
import Foundation
import ChildProcess
import Hall
import HallModel
import PostgresStore
import SQLiteStore
import Synchronization

/// The hall stores the hall's tests run against: each test that takes a `StoreKind`
/// runs once per store, unchanged. A new store (PostgreSQL) is one more case here.
enum StoreKind: String, CaseIterable, Sendable, CustomStringConvertible {
    /// halld.sqlite in a folder, as the daemon opens it (WAL, synchronous=FULL).
    case sqlite
    /// A second conformance kept in memory: the tests hold the protocol's rules, not
    /// SQLite's constraints.
    case memory
    /// The shared hall's store: a private PostgreSQL server (`make test` starts one,
    /// Tests/peers/postgres_peer.sh, and names it in HALLD_TEST_POSTGRES); each store
    /// is a hall of its own in it.
    case postgresql

    var description: String { rawValue }

    func make(directory: String) async throws -> any HallStore {
        switch self {
        case .sqlite: return try HallDatabase.open(directory: directory)
        case .memory: return MemoryHallStore()
        case .postgresql:
            let store = try Self.postgresStore(hall: "test-" + UUID().uuidString.lowercased())
            try await store.migrate()
            return store
        }
    }

    /// A store of `hall` on the test run's PostgreSQL server (HALLD_TEST_POSTGRES).
    static func postgresStore(hall: String) throws -> PostgresHallStore {
        guard let url = ProcessInfo.processInfo.environment["HALLD_TEST_POSTGRES"], !url.isEmpty else {
            throw ProcessFailure(
                "HALLD_TEST_POSTGRES is not set: make test starts a private PostgreSQL server (Tests/peers/postgres_peer.sh start DIR prints its URL)")
        }
        // The contract tests check rules, not answer times: with every suite running at once
        // on two cores, fifty serialized issues can take longer than production's 5 s budget.
        return try PostgresHallStore(url: url, hall: hall, logger: testLogger, operationTimeout: .seconds(30))
    }

    /// Ends what a store holds open (PostgreSQL's connection pool).
    static func close(_ store: any HallStore) {
        if let faulty = store as? FaultyStore { close(faulty.base) }
        (store as? PostgresHallStore)?.close()
    }
}

/// The HallStore protocol kept in memory, with the same rules in one actor step:
/// numbers per service and day, the daily cap, an appointment used once, one rating
/// per ticket, event sequence numbers never reused.
actor MemoryHallStore: HallStore {
    private var ticketsByID: [String: Ticket] = [:]
    private var order: [String] = []
    private var ratingsByTicket: [String: Rating] = [:]
    private var windowsByNumber: [Int: StoredWindow] = [:]
    private var appointments: [String: Appointment] = [:]
    private var roster: [String: Clerk] = [:]
    private var ledgerByID: [String: LedgerEntry] = [:]
    private var followUpsByID: [String: FollowUp] = [:]
    private var referralList: [Referral] = []
    private var noticesByID: [String: Notice] = [:]
    private var log: [HallEvent] = []
    private var lastSeq: Int64 = 0

    func issueTicket(_ new: NewTicket) throws -> Ticket {
        var slot: Date?
        if let code = new.appointment {
            guard var a = appointments[code], a.service == new.service else { throw HallStoreError.unknownAppointment }
            if let used = a.ticket { throw HallStoreError.appointmentUsed(ticket: used) }
            guard a.state == .booked else { throw HallStoreError.appointmentClosed(a.state) }
            slot = a.slot
            a.ticket = new.id
            a.state = .checkedIn
            appointments[code] = a
        }
        let last = ticketsByID.values.filter { $0.day == new.day && $0.issueService == new.service }.map(\.sequence).max() ?? 0
        if let cap = new.dailyCap, last >= cap { throw HallStoreError.dailyCapReached(cap) }
        let t = Ticket(
            id: new.id, number: Ticket.number(prefix: new.service, seq: last + 1), service: new.service, day: new.day, priority: new.priority,
            appointment: new.appointment, slot: slot, state: .waiting, issuedAt: new.at, queuedAt: new.at, recalls: 0)
        ticketsByID[t.id] = t
        order.append(t.id)
        return t
    }

    func updateTicket(_ ticket: Ticket, from previous: TicketState) throws {
        guard let now = ticketsByID[ticket.id]?.state, now == previous else { throw HallStoreError.stateChanged(now: ticketsByID[ticket.id]?.state) }
        var t = ticket
        t.waitingAhead = nil
        t.overdue = ticketsByID[t.id]?.overdue
        ticketsByID[t.id] = t
    }

    func markOverdue(ticket id: String, limit: String) -> Bool {
        guard let t = ticketsByID[id], !(t.overdue ?? []).contains(limit) else { return false }
        ticketsByID[id]?.overdue = (t.overdue ?? []) + [limit]
        return true
    }

    func tickets(day: String) -> [Ticket] { order.compactMap { ticketsByID[$0] }.filter { $0.day == day } }

    func saveRating(_ rating: Rating) throws {
        guard ratingsByTicket[rating.ticket] == nil else { throw HallStoreError.alreadyRated }
        ratingsByTicket[rating.ticket] = rating
    }

    func ratings(from: Date, to: Date, window: Int?) -> [Rating] {
        ratingsByTicket.values.filter { $0.time >= from && $0.time < to && (window == nil || $0.window == window) }.sorted { $0.time < $1.time }
    }

    func ratings(day: String) -> [Rating] {
        ratingsByTicket.values.filter { ticketsByID[$0.ticket]?.day == day }.sorted { $0.time < $1.time }
    }

    func saveWindow(_ window: StoredWindow) { windowsByNumber[window.number] = window }
    func windows() -> [StoredWindow] { windowsByNumber.values.sorted { $0.number < $1.number } }
    func addAppointment(_ appointment: Appointment) throws {
        guard appointments[appointment.code] == nil else { throw HallStoreError.appointmentExists }
        appointments[appointment.code] = appointment
    }
    func updateAppointment(_ appointment: Appointment, from previous: Appointment.State) throws {
        guard let now = appointments[appointment.code]?.state, now == previous else { throw HallStoreError.appointmentChanged(now: appointments[appointment.code]?.state) }
        appointments[appointment.code] = appointment
    }
    func appointment(_ code: String) -> Appointment? { appointments[code] }
    func appointments(from: Date, to: Date) -> [Appointment] {
        appointments.values.filter { $0.slot >= from && $0.slot < to }.sorted { ($0.slot, $0.code) < ($1.slot, $1.code) }
    }
    func saveNotice(_ notice: Notice) { noticesByID[notice.id] = notice }
    func notices(ticket: String) -> [Notice] { noticesByID.values.filter { $0.ticket == ticket }.sorted { ($0.at, $0.id) < ($1.at, $1.id) } }
    func saveClerk(_ clerk: Clerk) { roster[clerk.staffId] = clerk }
    func saveLedgerEntry(_ entry: LedgerEntry) { ledgerByID[entry.id] = entry }
    func saveFollowUp(_ f: FollowUp) { followUpsByID[f.id] = f }
    func saveReferral(_ r: Referral) { referralList.append(r) }
    func referrals(from: Date, to: Date) -> [Referral] { referralList.filter { $0.at >= from && $0.at < to }.sorted { ($0.at, $0.id) < ($1.at, $1.id) } }
    func followUps() -> [FollowUp] { followUpsByID.values.sorted { ($0.ratedAt, $0.id) < ($1.ratedAt, $1.id) } }
    func ledger(from: Date, to: Date) -> [LedgerEntry] { ledgerByID.values.filter { $0.at >= from && $0.at < to }.sorted { ($0.at, $0.id) < ($1.at, $1.id) } }
    func ledgerEntry(_ id: String) -> LedgerEntry? { ledgerByID[id] }
    func clerks() -> [Clerk] { roster.values.sorted { $0.staffId < $1.staffId } }

    func appendEvent(_ event: NewEvent, time: String, committed: @escaping @Sendable (HallEvent) -> Void) -> HallEvent {
        lastSeq += 1
        let stored = HallEvent(seq: lastSeq, type: event.type, time: time, device: event.device, data: event.data)
        log.append(stored)
        committed(stored)
        return stored
    }

    func events(after seq: Int64, limit: Int, types: Set<String>?) -> [HallEvent] {
        Array(log.filter { $0.seq > seq && EventSubscription.matches($0.type, types) }.prefix(limit))
    }

    func firstEventSequence() -> Int64 { log.first?.seq ?? lastSeq + 1 }
    func lastEventSequence() -> Int64 { lastSeq }

    func deleteEvents(before cutoff: String) -> Int {
        let before = log.count
        log.removeAll { $0.time < cutoff }
        return before - log.count
    }
}

/// Any store, with writes that can be made to fail as a full or failing disk would.
final class FaultyStore: HallStore {
    struct DiskError: Error, CustomStringConvertible {
        var description: String { "disk I/O error (test)" }
    }

    let base: any HallStore
    private let ratingWritesFail = Atomic<Bool>(false)

    init(_ base: any HallStore) { self.base = base }

    func failRatingWrites(_ fail: Bool) { ratingWritesFail.store(fail, ordering: .sequentiallyConsistent) }

    func issueTicket(_ new: NewTicket) async throws -> Ticket { try await base.issueTicket(new) }
    func updateTicket(_ ticket: Ticket, from previous: TicketState) async throws { try await base.updateTicket(ticket, from: previous) }
    func markOverdue(ticket id: String, limit: String) async throws -> Bool { try await base.markOverdue(ticket: id, limit: limit) }
    func tickets(day: String) async throws -> [Ticket] { try await base.tickets(day: day) }
    func saveRating(_ rating: Rating) async throws {
        if ratingWritesFail.load(ordering: .sequentiallyConsistent) { throw DiskError() }
        try await base.saveRating(rating)
    }
    func ratings(from: Date, to: Date, window: Int?) async throws -> [Rating] { try await base.ratings(from: from, to: to, window: window) }
    func ratings(day: String) async throws -> [Rating] { try await base.ratings(day: day) }
    func saveWindow(_ window: StoredWindow) async throws { try await base.saveWindow(window) }
    func windows() async throws -> [StoredWindow] { try await base.windows() }
    func addAppointment(_ appointment: Appointment) async throws { try await base.addAppointment(appointment) }
    func updateAppointment(_ appointment: Appointment, from previous: Appointment.State) async throws { try await base.updateAppointment(appointment, from: previous) }
    func appointment(_ code: String) async throws -> Appointment? { try await base.appointment(code) }
    func appointments(from: Date, to: Date) async throws -> [Appointment] { try await base.appointments(from: from, to: to) }
    func saveNotice(_ notice: Notice) async throws { try await base.saveNotice(notice) }
    func notices(ticket: String) async throws -> [Notice] { try await base.notices(ticket: ticket) }
    func saveClerk(_ clerk: Clerk) async throws { try await base.saveClerk(clerk) }
    func saveLedgerEntry(_ entry: LedgerEntry) async throws { try await base.saveLedgerEntry(entry) }
    func saveFollowUp(_ f: FollowUp) async throws { try await base.saveFollowUp(f) }
    func saveReferral(_ r: Referral) async throws { try await base.saveReferral(r) }
    func referrals(from: Date, to: Date) async throws -> [Referral] { try await base.referrals(from: from, to: to) }
    func followUps() async throws -> [FollowUp] { try await base.followUps() }
    func ledger(from: Date, to: Date) async throws -> [LedgerEntry] { try await base.ledger(from: from, to: to) }
    func ledgerEntry(_ id: String) async throws -> LedgerEntry? { try await base.ledgerEntry(id) }
    func clerks() async throws -> [Clerk] { try await base.clerks() }
    func appendEvent(_ event: NewEvent, time: String, committed: @escaping @Sendable (HallEvent) -> Void) async throws -> HallEvent {
        try await base.appendEvent(event, time: time, committed: committed)
    }
    func events(after seq: Int64, limit: Int, types: Set<String>?) async throws -> [HallEvent] { try await base.events(after: seq, limit: limit, types: types) }
    func firstEventSequence() async throws -> Int64 { try await base.firstEventSequence() }
    func lastEventSequence() async throws -> Int64 { try await base.lastEventSequence() }
    func deleteEvents(before cutoff: String) async throws -> Int { try await base.deleteEvents(before: cutoff) }
}
