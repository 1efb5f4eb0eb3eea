import DeviceKit
import Foundation

/// Where the events of the hall and its devices are kept, in sequence order, for
/// clients that resume (`GET /v1/events?after=`).
public protocol EventStore: Sendable {
    /// Stores `event` with the next sequence number, durably. `committed` runs once
    /// it is stored and before the next event's `committed`: whatever it does (hand
    /// the event to live subscribers) happens in sequence order, for stored events only.
    func appendEvent(_ event: NewEvent, time: String, committed: @escaping @Sendable (HallEvent) -> Void) async throws -> HallEvent
    /// Stored events after `seq` of `types` (types such as `keypad.rating` or families
    /// such as `keypad`; all when nil), oldest first, at most `limit`. A page shorter
    /// than `limit` is the end of the log.
    func events(after seq: Int64, limit: Int, types: Set<String>?) async throws -> [HallEvent]
    /// The oldest sequence number still stored, or the next one to be given when the
    /// log is empty.
    func firstEventSequence() async throws -> Int64
    /// The highest sequence number given so far (0 when none).
    func lastEventSequence() async throws -> Int64
    /// Deletes events stamped before `cutoff` (ISO 8601, UTC); returns how many.
    /// Sequence numbers go on from where they were. A store may keep such an event
    /// while an event before it in the log is stamped later (the clock set back).
    func deleteEvents(before cutoff: String) async throws -> Int
}

/// A ticket to issue: the store gives it the next number of its service and day.
public struct NewTicket: Sendable, Equatable {
    public var id: String
    public var day: String
    public var service: String
    public var priority: TicketPriority
    /// The appointment checked in with it: it must exist for `service` and be booked;
    /// it becomes checkedIn with this ticket in the same transaction.
    public var appointment: String?
    public var at: Date
    /// No more than this many numbers of `service` on `day`.
    public var dailyCap: Int?

    public init(id: String, day: String, service: String, priority: TicketPriority, appointment: String?, at: Date, dailyCap: Int?) {
        self.id = id
        self.day = day
        self.service = service
        self.priority = priority
        self.appointment = appointment
        self.at = at
        self.dailyCap = dailyCap
    }
}

/// A window as stored: its state, notice and clerk, and the ticket it serves.
public struct StoredWindow: Sendable, Equatable {
    public var number: Int
    public var state: WindowState
    public var away: AwayNotice?
    public var clerk: ClerkCard?
    public var current: String?
    /// The services it serves (empty: all), as the halld that has the window registered
    /// them in a shared store; nil in a single-PC store, where the configuration says.
    public var services: [String]?

    public init(number: Int, state: WindowState, away: AwayNotice?, clerk: ClerkCard?, current: String?, services: [String]? = nil) {
        self.number = number
        self.state = state
        self.away = away
        self.clerk = clerk
        self.current = current
        self.services = services
    }

    public init(_ w: HallWindow) {
        self.init(number: w.number, state: w.state, away: w.away, clerk: w.clerk, current: w.current?.id, services: w.services)
    }
}

/// Why a store refused a write. Each is a rule every store keeps in the same
/// transaction as the write, so that two halld processes sharing one store cannot
/// both pass it.
public enum HallStoreError: Error, Sendable, Equatable {
    /// The ticket already has a rating (一次一评).
    case alreadyRated
    /// The service issued its `cap` numbers today.
    case dailyCapReached(Int)
    /// No such appointment for that service.
    case unknownAppointment
    /// The appointment was checked in already, with this ticket.
    case appointmentUsed(ticket: String)
    /// The appointment was cancelled or became a no-show: it cannot be checked in.
    case appointmentClosed(Appointment.State)
    /// A code registered before (codes are used once).
    case appointmentExists
    /// The appointment was no longer in the state the change was made from.
    case appointmentChanged(now: Appointment.State?)
    /// The ticket was no longer in the state the change was made from: another halld
    /// of the hall changed it first (two windows calling the same ticket). Its state
    /// now, when the store knows it.
    case stateChanged(now: TicketState?)
    /// The store cannot be reached: the hall answers 503 until it can again. `store`
    /// names it without a password (`postgresql://halld@db:5432/hall`).
    case unavailable(store: String, reason: String)
}

extension HallStoreError: CustomStringConvertible {
    public var description: String {
        switch self {
        case .alreadyRated: "the ticket is already rated"
        case .dailyCapReached(let cap): "the service issued its \(cap) tickets today"
        case .unknownAppointment: "no such appointment for that service"
        case .appointmentUsed(let ticket): "the appointment was checked in with ticket \(ticket)"
        case .appointmentClosed(let state): "the appointment is \(state.rawValue)"
        case .appointmentExists: "an appointment with that code was registered before"
        case .appointmentChanged(let now): "the appointment was changed meanwhile\(now.map { " (it is \($0.rawValue) now)" } ?? "")"
        case .stateChanged(let now): "the ticket was changed meanwhile\(now.map { " (it is \($0.rawValue) now)" } ?? "")"
        case .unavailable(let store, let reason): "the hall's store \(store) is unavailable: \(reason)"
        }
    }
}

/// The hall's persistence: tickets, ratings, windows, appointments and the event log.
/// Every write is durable when it returns (the API acknowledges only then). The SQLite
/// store (one PC) is the first conformance; the hall's tests run against this protocol,
/// so a second store runs the same tests.
public protocol HallStore: EventStore, RosterStore, LedgerStore, FollowUpStore, ReferralStore, AppointmentStore, NoticeStore {
    /// Issues the next number of the ticket's service for its day (`A001`, `A002` …)
    /// and stores the ticket, in one transaction: a number is never given twice, the
    /// daily cap holds, an appointment is used once.
    func issueTicket(_ new: NewTicket) async throws -> Ticket
    /// Stores a ticket's new state (the issue fields do not change), if it is still in
    /// state `previous` in the store: otherwise `stateChanged`, and nothing is written.
    /// The promises it went past (`overdue`) are kept as stored: `markOverdue` writes them.
    func updateTicket(_ ticket: Ticket, from previous: TicketState) async throws
    /// Records that the ticket went past a promise (`waiting`, `service`); false when it
    /// was recorded before (by this halld or another of the hall): announce it once.
    func markOverdue(ticket id: String, limit: String) async throws -> Bool
    /// One day's tickets, in issue order.
    func tickets(day: String) async throws -> [Ticket]
    /// Stores the one rating of a ticket; a second is `alreadyRated`.
    func saveRating(_ rating: Rating) async throws
    /// Ratings given in [from, to), of one window or all, oldest first.
    func ratings(from: Date, to: Date, window: Int?) async throws -> [Rating]
    /// The ratings of one day's tickets.
    func ratings(day: String) async throws -> [Rating]
    func saveWindow(_ window: StoredWindow) async throws
    func windows() async throws -> [StoredWindow]
}

/// A hall store that keeps the hall's event log in the same database (a single PC's
/// SQLite, a shared hall's PostgreSQL): a ticket and its `ticket.issued` event are
/// written in one transaction, one flush to disk for both, and the event can never be
/// missing for a stored ticket.
public protocol TicketEventStore: HallStore {
    /// `issueTicket` and `appendEvent` of `event(ticket)` in one transaction; `committed`
    /// runs after the commit (in sequence order where the store says so: SQLite's serial
    /// writer; see PostgreSQL's for its own).
    func issueTicket(
        _ new: NewTicket, event: @escaping @Sendable (Ticket) throws -> NewEvent, time: String, committed: @escaping @Sendable (HallEvent) -> Void
    ) async throws -> (Ticket, HallEvent)
}

extension Ticket {
    /// The printed number: the service's code and the day's sequence, at least three digits.
    public static func number(prefix: String, seq: Int) -> String {
        let digits = String(seq)
        return prefix + String(repeating: "0", count: max(0, 3 - digits.count)) + digits
    }

    /// The service the number was issued for (a transferred ticket keeps its number).
    public var issueService: String { transferredFrom.map { _ in String(number.prefix { $0.isLetter }) } ?? service }

    /// The day's sequence in the number (`A012` → 12).
    public var sequence: Int { Int(number.drop { $0.isLetter }) ?? 0 }
}

/// An event of a hall shared by several hallds, with the halld that published it.
public struct SharedEvent: Sendable, Equatable {
    public var event: HallEvent
    /// The `origin` of the store that appended it.
    public var origin: String

    public init(event: HallEvent, origin: String) {
        self.event = event
        self.origin = origin
    }
}

/// A hall store that several hallds (a kiosk PC, the windows' PCs) share: the hall's
/// events are appended with their origin, and each halld follows them in sequence.
public protocol SharedHallStore: HallStore, CustomStringConvertible {
    /// The hall's id in the shared database.
    var hall: String { get }
    /// This halld's id in the hall: its own events come back with it.
    var origin: String { get }
    /// The hall's events from after `seq` on, as any halld of the hall commits them:
    /// what is stored first, then each new one. Ends with an error when the connection
    /// is lost; the caller follows again from the last sequence it saw.
    func follow(after seq: Int64) -> AsyncThrowingStream<SharedEvent, any Error>
    /// Joins the hall with this halld's services and windows: the services must be the
    /// hall's (the first halld's stand); the windows are registered with the services
    /// they serve. Returns the hall's last event sequence. Tried even while the store
    /// is marked unavailable.
    func join(services: [HallService], windows: [HallWindowConfig]) async throws -> Int64
    /// Marks the store unreachable (`reason`) or reachable again (nil): while it is
    /// unreachable, operations answer `unavailable` at once. `follow` marks it too.
    func setOutage(_ reason: String?)
    /// Why the store is unreachable, when it is known to be.
    var currentOutage: String? { get }
    /// Every hall's tickets and ratings of `day` in the database, by hall id.
    func district(day: String) async throws -> [String: HallDay]
}

/// The local log of a halld that follows a shared hall: each followed event is stored
/// once, with a local sequence number, in the same transaction as the hall sequence
/// followed so far.
public protocol FollowedEventStore: EventStore {
    /// Stores `event` of `hall` with the next local sequence number unless an event of
    /// that hall sequence or later was stored already (nil then). `committed` as in
    /// `appendEvent`.
    func appendFollowed(_ event: HallEvent, hall: String, committed: @escaping @Sendable (HallEvent) -> Void) async throws -> HallEvent?
    /// The last hall sequence stored for `hall`; nil when this log never followed it.
    func followedSequence(hall: String) async throws -> Int64?
    /// Starts following `hall` after `seq` when this log never followed it (a halld
    /// joining a hall takes the hall as it is, not its history); returns the sequence
    /// to follow after.
    func startFollowing(hall: String, after seq: Int64) async throws -> Int64
}

/// This halld cannot be in the shared hall: its services differ from the hall's, or
/// the database's schema is newer than it knows. halld refuses to start with it.
public struct HallMembershipError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
