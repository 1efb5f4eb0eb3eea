/// What a connecting program may do, from its peer credentials.
public enum Role: String, Sendable, Codable, CaseIterable, Comparable {
    /// Connected, but in none of the configured groups: may read info and health only.
    case none
    /// A screen (the hall board, a window screen) through the browser bridge: reads
    /// the hall's state and follows its events, changes nothing.
    case display
    /// Self-service kiosk: tickets, the queue, its own scans and prints.
    case kiosk
    /// Window clerk: window operations, scans, prints, ratings, displays.
    case clerk
    /// The hall's manager (中心管理员): a clerk's rights, and the roster of clerks.
    case manager
    /// District office: a clerk's rights, and the statistics of every hall in a shared
    /// database (`GET /v1/stats?hall=all`).
    case district
    /// Technician: everything, including resets, faults, external checks and counters.
    case technician

    private var rank: Int { Role.allCases.firstIndex(of: self)! }
    public static func < (a: Role, b: Role) -> Bool { a.rank < b.rank }
}
