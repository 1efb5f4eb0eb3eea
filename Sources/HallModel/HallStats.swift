import DeviceKit
import Foundation

/// A period's figures (a day, a month, a year) for the whole hall and per service,
/// window, clerk (by staff id when the hall has a roster, else by name) and the
/// clerks' units.
public struct HallStats: Sendable, Codable, Equatable {
    public struct Group: Sendable, Codable, Equatable {
        public var issued = 0
        public var served = 0
        public var noShows = 0
        /// From issue to call, over called tickets.
        public var waitingMeanSeconds: Double?
        public var waitingP90Seconds: Double?
        /// From call to completion, over served tickets.
        public var serviceMeanSeconds: Double?
        /// Ratings by level (verySatisfied …), and completed services with no rating.
        public var ratings: [String: Int] = [:]
        public var notRated = 0
        /// Share of ratings that are 非常满意, 满意 or 基本满意.
        public var satisfactionRate: Double?
        /// Bad ratings' follow-ups of these tickets: opened, closed within their
        /// deadline, and open past it (at the time the figures were made).
        public var followUps = 0
        public var followUpsOnTime = 0
        public var followUpsOverdue = 0
        /// Citizens this service, window, clerk or unit referred on to another service (首问负责).
        public var referredOut = 0
        /// 限时办结: tickets called later than their service's promised wait (or still
        /// waiting past it), and served longer than its promised service time.
        public var overdueWaiting = 0
        public var overdueService = 0

        public init() {}
    }

    public var date: String
    public var hall: Group
    public var services: [String: Group]
    public var windows: [String: Group]
    public var clerks: [String: Group]
    /// By the clerks' units (单位), from the roster.
    public var units: [String: Group]
    /// The names of the clerks keyed by staff id.
    public var clerkNames: [String: String]

    public init(
        date: String, hall: Group, services: [String: Group], windows: [String: Group], clerks: [String: Group], units: [String: Group] = [:],
        clerkNames: [String: String] = [:]
    ) {
        self.date = date
        self.hall = hall
        self.services = services
        self.windows = windows
        self.clerks = clerks
        self.units = units
        self.clerkNames = clerkNames
    }

    /// Keeps the hall's figures and one grouping (`service`, `window`, `clerk`, `unit`).
    public func only(_ by: String) -> HallStats {
        HallStats(
            date: date, hall: hall, services: by == "service" ? services : [:], windows: by == "window" ? windows : [:], clerks: by == "clerk" ? clerks : [:],
            units: by == "unit" ? units : [:], clerkNames: by == "clerk" ? clerkNames : [:])
    }

    /// One CSV row a group: scope, key, then the figures.
    public var csv: String {
        let levels = RatingLevel.allCases.map(\.rawValue)
        var out = "date,scope,key,issued,served,noShows,waitingMeanSeconds,waitingP90Seconds,serviceMeanSeconds,\(levels.joined(separator: ",")),notRated,satisfactionRate,"
        out += "followUps,followUpsOnTime,followUpsOverdue,referredOut,overdueWaiting,overdueService,name\n"
        func row(_ scope: String, _ key: String, _ g: Group, name: String = "") {
            let f = { (v: Double?) in v.map { String(format: "%.1f", $0) } ?? "" }
            out += "\(date),\(scope),\(csvField(key)),\(g.issued),\(g.served),\(g.noShows),\(f(g.waitingMeanSeconds)),\(f(g.waitingP90Seconds)),\(f(g.serviceMeanSeconds)),"
            out += levels.map { String(g.ratings[$0] ?? 0) }.joined(separator: ",") + ",\(g.notRated),\(g.satisfactionRate.map { String(format: "%.4f", $0) } ?? ""),"
            out += "\(g.followUps),\(g.followUpsOnTime),\(g.followUpsOverdue),\(g.referredOut),\(g.overdueWaiting),\(g.overdueService),\(csvField(name))\n"
        }
        row("hall", "all", hall)
        for (k, g) in services.sorted(by: { $0.key < $1.key }) { row("service", k, g) }
        for (k, g) in windows.sorted(by: { $0.key < $1.key }) { row("window", k, g) }
        for (k, g) in clerks.sorted(by: { $0.key < $1.key }) { row("clerk", k, g, name: clerkNames[k] ?? "") }
        for (k, g) in units.sorted(by: { $0.key < $1.key }) { row("unit", k, g) }
        return out
    }

    /// Computes the figures of a period's tickets and ratings (pure). `roster` gives the
    /// units and names of clerks by staff id; `followUps` the bad ratings' follow-ups,
    /// counted with their tickets, overdue at `now`. `limits`: each service's promised
    /// wait and service minutes (限时办结), measured from the times, not the announcements.
    public static func compute(
        date: String, tickets: [Ticket], ratings: [Rating], roster: [Clerk] = [], followUps: [FollowUp] = [], referrals: [Referral] = [], now: Date = Date(),
        limits: [String: (wait: Int?, service: Int?)] = [:]
    ) -> HallStats {
        let ratingByTicket = Dictionary(ratings.map { ($0.ticket, $0) }, uniquingKeysWith: { a, _ in a })
        let followUpByTicket = Dictionary(followUps.map { ($0.ticket, $0) }, uniquingKeysWith: { a, _ in a })
        let clerkByID = Dictionary(roster.map { ($0.staffId, $0) }, uniquingKeysWith: { _, last in last })
        // What each ticket adds to a group, found once (its rating, follow-up and limits)
        // and kept in plain values: a ticket is counted in up to five groups.
        let facts = tickets.map { t in
            let limit = limits[t.service]
            let followUp = followUpByTicket[t.id]
            return Fact(
                state: t.state, wait: t.calledAt.map { $0.timeIntervalSince(t.issuedAt) },
                service: t.calledAt.flatMap { c in t.finishedAt.map { $0.timeIntervalSince(c) } },
                level: t.state == .done ? ratingByTicket[t.id]?.level : nil,
                // A ticket not called yet waits until now (or ended uncalled when it ended).
                overdueWaiting: limit?.wait.map { (t.calledAt ?? t.finishedAt ?? now).timeIntervalSince(t.issuedAt) >= Double($0) * 60 } ?? false,
                overdueService: limit?.service.map { m in
                    t.calledAt.map { called in t.state != .noShow && t.state != .waiting && (t.finishedAt ?? now).timeIntervalSince(called) >= Double(m) * 60 } ?? false
                } ?? false,
                followUp: followUp != nil, followUpOnTime: followUp?.closedOnTime == true, followUpOverdue: followUp?.isOverdue(at: now) == true)
        }
        func group(_ members: [Int]) -> Group {
            var g = Group()
            g.issued = members.count
            var waits: [Double] = []
            var serviceTotal = 0.0, serviceCount = 0, rated = 0, satisfied = 0
            for i in members {
                let f = facts[i]
                if let w = f.wait { waits.append(w) }
                if f.overdueWaiting { g.overdueWaiting += 1 }
                if f.overdueService { g.overdueService += 1 }
                if f.followUp {
                    g.followUps += 1
                    if f.followUpOnTime { g.followUpsOnTime += 1 }
                    if f.followUpOverdue { g.followUpsOverdue += 1 }
                }
                switch f.state {
                case .noShow: g.noShows += 1
                case .done:
                    g.served += 1
                    if let s = f.service {
                        serviceTotal += s
                        serviceCount += 1
                    }
                    guard let level = f.level else {
                        g.notRated += 1
                        continue
                    }
                    g.ratings[level.rawValue, default: 0] += 1
                    rated += 1
                    if level == .verySatisfied || level == .satisfied || level == .basicallySatisfied { satisfied += 1 }
                default: break
                }
            }
            if !waits.isEmpty {
                waits.sort()
                g.waitingMeanSeconds = waits.reduce(0, +) / Double(waits.count)
                g.waitingP90Seconds = waits[Int((0.9 * Double(waits.count)).rounded(.up)) - 1]
            }
            if serviceCount > 0 { g.serviceMeanSeconds = serviceTotal / Double(serviceCount) }
            if rated > 0 { g.satisfactionRate = Double(satisfied) / Double(rated) }
            return g
        }
        // A clerk by staff id (a roster) or, before one, by the name on the card.
        let all = Array(tickets.indices)
        let byClerk = Dictionary(grouping: all.filter { tickets[$0].staffId != nil || tickets[$0].clerk != nil }, by: { tickets[$0].staffId ?? tickets[$0].clerk! })
        let withUnit = all.filter { tickets[$0].staffId.flatMap { clerkByID[$0]?.unit } != nil }
        var stats = HallStats(
            date: date, hall: group(all), services: Dictionary(grouping: all, by: { tickets[$0].service }).mapValues(group),
            windows: Dictionary(grouping: all.filter { tickets[$0].window != nil }, by: { String(tickets[$0].window!) }).mapValues(group),
            clerks: byClerk.mapValues(group),
            units: Dictionary(grouping: withUnit, by: { clerkByID[tickets[$0].staffId!]!.unit! }).mapValues(group))
        // Referrals count where they were made: the service, window, clerk and unit that referred.
        for r in referrals {
            stats.hall.referredOut += 1
            stats.services[r.fromService, default: Group()].referredOut += 1
            stats.windows[String(r.window), default: Group()].referredOut += 1
            if let key = r.staffId ?? r.clerk { stats.clerks[key, default: Group()].referredOut += 1 }
            if let unit = r.staffId.flatMap({ clerkByID[$0]?.unit }) { stats.units[unit, default: Group()].referredOut += 1 }
        }
        stats.clerkNames = Dictionary(uniqueKeysWithValues: stats.clerks.keys.compactMap { k in clerkByID[k].map { (k, $0.name) } })
        return stats
    }
}


/// What one ticket adds to a group of `HallStats.compute`.
private struct Fact {
    var state: TicketState
    /// From issue to call; from call to completion.
    var wait: TimeInterval?
    var service: TimeInterval?
    /// Its rating's level, when it was served and rated.
    var level: RatingLevel?
    var overdueWaiting: Bool
    var overdueService: Bool
    var followUp: Bool
    var followUpOnTime: Bool
    var followUpOverdue: Bool
}

/// One day's figures of every hall in a shared database (a district): each hall's,
/// and all of them together.
public struct DistrictStats: Sendable, Codable, Equatable {
    public var date: String
    /// Every hall's tickets and ratings as one.
    public var district: HallStats
    /// By hall id.
    public var halls: [String: HallStats]

    public init(date: String, district: HallStats, halls: [String: HallStats]) {
        self.date = date
        self.district = district
        self.halls = halls
    }

    /// The figures of `days` (tickets and ratings by hall id).
    public static func compute(date: String, days: [String: HallDay]) -> DistrictStats {
        DistrictStats(
            date: date, district: .compute(date: date, tickets: days.values.flatMap(\.tickets), ratings: days.values.flatMap(\.ratings)),
            halls: days.mapValues { HallStats.compute(date: date, tickets: $0.tickets, ratings: $0.ratings) })
    }

    /// `HallStats.csv` with the hall first: `all` for the district, then each hall.
    public var csv: String {
        func rows(_ hall: String, _ stats: HallStats) -> [String] { stats.csv.split(separator: "\n").dropFirst().map { "\(hall),\($0)" } }
        let header = "hall," + (district.csv.split(separator: "\n").first.map(String.init) ?? "")
        let lines = rows("all", district) + halls.sorted { $0.key < $1.key }.flatMap { rows($0.key, $0.value) }
        return ([header] + lines).joined(separator: "\n") + "\n"
    }
}

/// One hall's tickets and ratings of a day.
public struct HallDay: Sendable, Equatable {
    public var tickets: [Ticket]
    public var ratings: [Rating]

    public init(tickets: [Ticket] = [], ratings: [Rating] = []) {
        self.tickets = tickets
        self.ratings = ratings
    }
}
