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
        func group(_ ts: [Ticket]) -> Group {
            var g = Group()
            g.issued = ts.count
            g.served = ts.filter { $0.state == .done }.count
            g.noShows = ts.filter { $0.state == .noShow }.count
            let waits = ts.compactMap { t in t.calledAt.map { $0.timeIntervalSince(t.issuedAt) } }.sorted()
            if !waits.isEmpty {
                g.waitingMeanSeconds = waits.reduce(0, +) / Double(waits.count)
                g.waitingP90Seconds = waits[Int((0.9 * Double(waits.count)).rounded(.up)) - 1]
            }
            let services = ts.filter { $0.state == .done }.compactMap { t in t.calledAt.flatMap { c in t.finishedAt.map { $0.timeIntervalSince(c) } } }
            if !services.isEmpty { g.serviceMeanSeconds = services.reduce(0, +) / Double(services.count) }
            var rated = 0, satisfied = 0
            for t in ts where t.state == .done {
                guard let r = ratingByTicket[t.id], let level = r.level else {
                    g.notRated += 1
                    continue
                }
                g.ratings[level.rawValue, default: 0] += 1
                rated += 1
                if [RatingLevel.verySatisfied, .satisfied, .basicallySatisfied].contains(level) { satisfied += 1 }
            }
            if rated > 0 { g.satisfactionRate = Double(satisfied) / Double(rated) }
            for t in ts {
                let limit = limits[t.service]
                // A ticket not called yet waits until now (or ended uncalled when it ended).
                if let m = limit?.wait, (t.calledAt ?? t.finishedAt ?? now).timeIntervalSince(t.issuedAt) >= Double(m) * 60 { g.overdueWaiting += 1 }
                if let m = limit?.service, let called = t.calledAt, t.state != .noShow, t.state != .waiting,
                    (t.finishedAt ?? now).timeIntervalSince(called) >= Double(m) * 60
                {
                    g.overdueService += 1
                }
                guard let f = followUpByTicket[t.id] else { continue }
                g.followUps += 1
                if f.closedOnTime == true { g.followUpsOnTime += 1 }
                if f.isOverdue(at: now) { g.followUpsOverdue += 1 }
            }
            return g
        }
        // A clerk by staff id (a roster) or, before one, by the name on the card.
        let byClerk = Dictionary(grouping: tickets.filter { $0.staffId != nil || $0.clerk != nil }, by: { $0.staffId ?? $0.clerk! })
        let withUnit = tickets.filter { $0.staffId.flatMap { clerkByID[$0]?.unit } != nil }
        var stats = HallStats(
            date: date, hall: group(tickets), services: Dictionary(grouping: tickets, by: \.service).mapValues(group),
            windows: Dictionary(grouping: tickets.filter { $0.window != nil }, by: { String($0.window!) }).mapValues(group),
            clerks: byClerk.mapValues(group),
            units: Dictionary(grouping: withUnit, by: { clerkByID[$0.staffId!]!.unit! }).mapValues(group))
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
