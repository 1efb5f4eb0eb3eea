import Foundation

/// Which waiting ticket a window serves next, as a pure rule:
/// 1. an ordinary ticket that has waited longer than the aging bound (oldest first),
///    so no ordinary ticket waits behind an endless stream of green ones;
/// 2. green tickets (绿色通道), oldest first;
/// 3. checked-in appointments whose slot has begun, by slot;
/// 4. everyone else in arrival order (the time they joined this queue).
public enum QueueOrder {
    public struct Candidate: Sendable, Equatable {
        public var id: String
        public var priority: TicketPriority
        public var queuedAt: Date
        /// Checked-in appointment: its slot start.
        public var slot: Date?

        public init(id: String, priority: TicketPriority, queuedAt: Date, slot: Date? = nil) {
            self.id = id
            self.priority = priority
            self.queuedAt = queuedAt
            self.slot = slot
        }
    }

    public static func next(_ waiting: [Candidate], now: Date, agingBound: Duration) -> Candidate? {
        ordered(waiting, now: now, agingBound: agingBound).first
    }

    /// The whole queue in serving order.
    public static func ordered(_ waiting: [Candidate], now: Date, agingBound: Duration) -> [Candidate] {
        // Each ticket ranked once, not once per comparison (the list of a long queue
        // is sorted on every change): the same order as `before`.
        let bound = Double(agingBound.components.seconds)
        return waiting.map { (rank: rank($0, now: now, bound: bound), candidate: $0) }
            .sorted { a, b in
                if a.rank.0 != b.rank.0 { return a.rank.0 < b.rank.0 }
                if a.rank.1 != b.rank.1 { return a.rank.1 < b.rank.1 }
                return a.candidate.id < b.candidate.id
            }
            .map(\.candidate)
    }

    /// How many of `waiting` are served before `ticket` (without sorting the queue).
    public static func ahead(of ticket: Candidate, in waiting: [Candidate], now: Date, agingBound: Duration) -> Int {
        waiting.reduce(0) { $0 + ($1.id != ticket.id && before($1, ticket, now: now, agingBound: agingBound) ? 1 : 0) }
    }

    static func rank(_ c: Candidate, now: Date, bound: Double) -> (Int, Date) {
        if c.priority == .normal, now.timeIntervalSince(c.queuedAt) > bound { return (0, c.queuedAt) }
        if c.priority == .green { return (1, c.queuedAt) }
        if let slot = c.slot, slot <= now { return (2, slot) }
        return (3, c.queuedAt)
    }

    /// Whether `a` is served before `b`.
    public static func before(_ a: Candidate, _ b: Candidate, now: Date, agingBound: Duration) -> Bool {
        let bound = Double(agingBound.components.seconds)
        let (ra, rb) = (rank(a, now: now, bound: bound), rank(b, now: now, bound: bound))
        if ra.0 != rb.0 { return ra.0 < rb.0 }
        if ra.1 != rb.1 { return ra.1 < rb.1 }
        return a.id < b.id
    }
}
