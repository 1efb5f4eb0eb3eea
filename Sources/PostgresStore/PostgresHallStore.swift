import DeviceKit
import Foundation
import HallModel
import Logging
import LoopExecutor
import PostgresNIO
import Synchronization

/// The hall's store in PostgreSQL, for a hall shared by several PCs (and a district's
/// halls in one database: every row carries its hall's id). Every write is one
/// transaction with synchronous commit: when it returns it is on the server's disk.
/// Ticket numbers are taken under a transaction-scoped advisory lock per hall, day
/// and service, and a unique constraint stands behind it; event sequence numbers come
/// from one counter row per hall, so they have no gaps and follow commit order.
public final class PostgresHallStore: SharedHallStore {
    public let hall: String
    /// This halld's id in the hall (its events carry it).
    public let origin: String
    /// `postgresql://USER@HOST:PORT/DB` without the password, for messages.
    public let description: String
    private let client: PostgresClient
    private let runner: Task<Void, Never>
    private let logger: Logger
    /// Appends of this process, one at a time: `committed` runs in sequence order.
    private let appends = AsyncLock()
    /// Why the server is known to be unreachable (the follower lost it), or nil: hall
    /// operations fail at once instead of waiting for a connection.
    private let outage = Mutex<String?>(nil)
    /// Which `follow` is the current one: a stream given up on (its connection stuck)
    /// may end long after, and must not mark a store that answers again unreachable.
    private let followGeneration = Atomic<Int>(0)
    /// How long one operation may wait for the server before the hall answers 503.
    public let operationTimeout: Duration

    /// Connects to `url` (`postgresql://USER@HOST:PORT/DB`) as hall `hall`, with the
    /// password given apart (never in the URL of a configuration file). `origin` names
    /// this halld in the hall (stable across restarts: its host and socket).
    public init(
        url: String, password: String? = nil, hall: String, origin: String = UUID().uuidString, logger: Logger, operationTimeout: Duration = .seconds(5)
    ) throws {
        guard let parts = URLComponents(string: url), parts.scheme == "postgresql" || parts.scheme == "postgres",
            let host = parts.host, !host.isEmpty, let user = parts.user, !user.isEmpty
        else {
            throw HallStoreConfigurationError("expected postgresql://USER@HOST:PORT/DB, found \"\(url)\"")
        }
        let database = parts.path.hasPrefix("/") ? String(parts.path.dropFirst()) : parts.path
        var configuration = PostgresClient.Configuration(
            host: host, port: parts.port ?? 5432, username: user, password: password ?? parts.password, database: database.isEmpty ? nil : database, tls: .disable)
        configuration.options.connectTimeout = .seconds(3)
        // A hall of several PCs shares one server: ten PCs at PostgresNIO's default of 20
        // would ask for twice what a server allows by default (max_connections = 100).
        // One of these listens for the hall's events; the hall's writes take one at a time.
        configuration.options.maximumConnections = Self.maximumConnections
        // Durable before acknowledged, whatever the server's default: every commit of
        // this store waits for the server's WAL flush.
        configuration.options.additionalStartupParameters = [("synchronous_commit", "on"), ("application_name", "halld")]
        self.hall = hall
        self.origin = origin
        self.operationTimeout = operationTimeout
        self.description = "postgresql://\(user)@\(host):\(parts.port ?? 5432)/\(database)"
        self.logger = logger
        let client = PostgresClient(configuration: configuration, backgroundLogger: logger)
        self.client = client
        runner = Task { await client.run() }
    }

    deinit { runner.cancel() }

    /// The most connections one halld opens to the hall's server.
    public static let maximumConnections = 8

    /// Stops the connection pool.
    public func close() { runner.cancel() }

    /// Creates the tables when they are missing, once even when several hallds start
    /// together (a transaction-scoped advisory lock), and records the schema version.
    public func migrate() async throws {
        try await transaction { c in
            try await c.query("SELECT pg_advisory_xact_lock(7254001)", logger: logger)
            try await c.query(
                """
                CREATE TABLE IF NOT EXISTS halld_schema (version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())
                """, logger: logger)
            let applied = try await c.query("SELECT COALESCE(MAX(version), 0) FROM halld_schema", logger: logger).collect().first?.decode(Int.self) ?? 0
            for (version, statements) in Self.schema.enumerated() where version + 1 > applied {
                for statement in statements { try await c.query(PostgresQuery(unsafeSQL: statement), logger: logger) }
                try await c.query("INSERT INTO halld_schema (version) VALUES (\(version + 1))", logger: logger)
            }
        }
    }

    /// Indexes that change no table's shape, built where missing at every start rather
    /// than as a schema version: a database that has them is still the shape an older
    /// halld knows, so the PCs and halls that share it need not all be upgraded at once.
    static let indexes: [(name: String, sql: String)] = [
        // The district's figures (GET /v1/stats?hall=all) read one day of every hall's
        // tickets: by the day, instead of the whole table's history.
        ("ticket_district_day", "CREATE INDEX IF NOT EXISTS ticket_district_day ON ticket (day, hall)")
    ]

    /// Builds the `indexes` the database lacks (the first start after an upgrade). Building
    /// one holds the table's writes until it is done (seconds for a year of a district's
    /// tickets), so it gets minutes, not the operations' budget; a halld starting meanwhile
    /// waits for it under the migrations' lock.
    func buildIndexes() async throws {
        let names = Self.indexes.map(\.name)
        let present = try await guarded(duringOutage: true) { [self] in
            var present = Set<String>()
            for try await name in try await client.query(
                "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() AND indexname = ANY(\(names))", logger: logger
            ).decode(String.self) {
                present.insert(name)
            }
            return present
        }
        let missing = Self.indexes.filter { !present.contains($0.name) }
        guard !missing.isEmpty else { return }
        logger.notice("building \(missing.map(\.name).joined(separator: ", ")) in \(description): ticket writes wait until it is built (once)")
        try await guarded(duringOutage: true, timeout: .seconds(900)) { [self] in
            try await transaction { c in
                try await c.query("SELECT pg_advisory_xact_lock(7254001)", logger: logger)
                for index in missing { try await c.query(PostgresQuery(unsafeSQL: index.sql), logger: logger) }
            }
        }
    }

    /// The schema version this halld writes: a database migrated further by a newer
    /// halld is refused rather than written in a shape this one does not know.
    public static var schemaVersion: Int { schema.count }

    /// The migrations, in order: version N is `schema[N - 1]`. Applied versions are
    /// never changed; a change is a new version.
    static let schema = [schemaV1, schemaV2, schemaV3, schemaV4, schemaV5, schemaV6, schemaV7]

    static let schemaV7 = [
        // Appointments' whole life: the state, and the rest (citizen masked, slot length,
        // who cancelled) as JSON.
        "ALTER TABLE appointment ADD COLUMN state TEXT NOT NULL DEFAULT 'booked'",
        "UPDATE appointment SET state = 'checkedIn' WHERE ticket IS NOT NULL",
        "ALTER TABLE appointment ADD COLUMN data TEXT",
        "CREATE INDEX appointment_slot ON appointment (hall, slot)",
        // 限时办结: the promises a ticket went past (JSON array), each announced once.
        "ALTER TABLE ticket ADD COLUMN overdue TEXT",
        // One-time notices (一次性告知) as printed, with their ticket.
        "CREATE TABLE hall_notice (hall TEXT NOT NULL, id TEXT NOT NULL, ticket TEXT NOT NULL, at DOUBLE PRECISION NOT NULL, data TEXT NOT NULL, PRIMARY KEY (hall, id))",
        "CREATE INDEX hall_notice_ticket ON hall_notice (hall, ticket)",
    ]

    static let schemaV6 = [
        // Referrals (首问负责): who sent a citizen on to which service, as JSON.
        "CREATE TABLE hall_referral (hall TEXT NOT NULL, id TEXT NOT NULL, at DOUBLE PRECISION NOT NULL, data TEXT NOT NULL, PRIMARY KEY (hall, id))",
        "CREATE INDEX hall_referral_at ON hall_referral (hall, at)",
    ]

    static let schemaV5 = [
        // Bad ratings' follow-ups (差评整改), as JSON.
        "CREATE TABLE hall_follow_up (hall TEXT NOT NULL, id TEXT NOT NULL, rated_at DOUBLE PRECISION NOT NULL, data TEXT NOT NULL, PRIMARY KEY (hall, id))",
    ]

    static let schemaV4 = [
        // The 办不成事 ledger: entries as JSON, by the time they were written.
        "CREATE TABLE hall_ledger (hall TEXT NOT NULL, id TEXT NOT NULL, at DOUBLE PRECISION NOT NULL, data TEXT NOT NULL, PRIMARY KEY (hall, id))",
        "CREATE INDEX hall_ledger_at ON hall_ledger (hall, at)",
    ]

    static let schemaV3 = [
        // The hall's roster: clerks by staff number, as JSON (removed ones kept).
        "CREATE TABLE hall_clerk (hall TEXT NOT NULL, staff_id TEXT NOT NULL, data TEXT NOT NULL, PRIMARY KEY (hall, staff_id))",
        // Who served a ticket and who a rating belongs to, by staff number.
        "ALTER TABLE ticket ADD COLUMN staff_id TEXT",
        "ALTER TABLE rating ADD COLUMN staff_id TEXT",
    ]

    static let schemaV2 = [
        // Which halld appended an event: each applies the others' events to its devices.
        "ALTER TABLE event ADD COLUMN origin TEXT NOT NULL DEFAULT ''",
        // The services a window serves (JSON array; empty: all), from the halld that has it.
        "ALTER TABLE hall_window ADD COLUMN services TEXT",
        // The hall's services: every halld of the hall must configure the same.
        """
        CREATE TABLE hall_service (
            hall TEXT NOT NULL, code TEXT NOT NULL, definition TEXT NOT NULL, PRIMARY KEY (hall, code)
        )
        """,
    ]

    /// Joins the hall: the first halld's services become the hall's; a halld whose
    /// services differ is refused with the difference named. Registers this halld's
    /// windows with the services they serve, keeping their state. Checks the schema is
    /// not newer than this halld knows.
    @discardableResult
    public func join(services: [HallService], windows: [HallWindowConfig]) async throws -> Int64 {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let ours = try Dictionary(uniqueKeysWithValues: services.map { ($0.code, String(decoding: try encoder.encode($0), as: UTF8.self)) })
        let hall = hall
        try await guarded(duringOutage: true) { [self] in try await migrate() }
        try await buildIndexes()
        return try await guarded(duringOutage: true) { [self] in
            try await transaction { c in
                let version = try await c.query("SELECT COALESCE(MAX(version), 0) FROM halld_schema", logger: logger).collect().first?.decode(Int.self) ?? 0
                if version > Self.schemaVersion {
                    throw HallMembershipError("the database has schema version \(version); this halld knows up to \(Self.schemaVersion): upgrade this halld")
                }
                // One joining halld at a time per hall: the first one's services stand.
                try await c.query("SELECT pg_advisory_xact_lock(7254002, hashtext(\(hall)))", logger: logger)
                var theirs: [String: String] = [:]
                for try await (code, definition) in try await c.query("SELECT code, definition FROM hall_service WHERE hall = \(hall)", logger: logger).decode(
                    (String, String).self)
                {
                    theirs[code] = definition
                }
                if theirs.isEmpty {
                    for (code, definition) in ours {
                        try await c.query("INSERT INTO hall_service (hall, code, definition) VALUES (\(hall), \(code), \(definition))", logger: logger)
                    }
                } else if theirs != ours {
                    var differences: [String] = []
                    for code in Set(theirs.keys).union(ours.keys).sorted() {
                        switch (theirs[code], ours[code]) {
                        case (nil, _?): differences.append("service \(code) is configured here but not in the hall")
                        case (_?, nil): differences.append("the hall has service \(code), not configured here")
                        case (let a?, let b?) where a != b: differences.append("service \(code) differs: the hall has \(a), here \(b)")
                        default: break
                        }
                    }
                    throw HallMembershipError(
                        "hall '\(hall)' has other services than this configuration: \(differences.joined(separator: "; ")). Every halld of a hall configures the same [[hall.service]]")
                }
                for w in windows {
                    let served = String(decoding: try encoder.encode(w.services), as: UTF8.self)
                    try await c.query(
                        """
                        INSERT INTO hall_window (hall, number, state, services) VALUES (\(hall), \(w.number), \(WindowState.closed.rawValue), \(served))
                        ON CONFLICT (hall, number) DO UPDATE SET services = excluded.services
                        """, logger: logger)
                }
                return try await c.query("SELECT last FROM hall_sequence WHERE hall = \(hall)", logger: logger).collect().first?.decode(Int64.self) ?? 0
            }
        }
    }

    static let schemaV1 = [
        """
        CREATE TABLE ticket (
            hall TEXT NOT NULL, id TEXT NOT NULL, day TEXT NOT NULL, service TEXT NOT NULL, issue_service TEXT NOT NULL,
            seq INTEGER NOT NULL, number TEXT NOT NULL, priority TEXT NOT NULL, appointment TEXT, slot DOUBLE PRECISION,
            state TEXT NOT NULL, issued_at DOUBLE PRECISION NOT NULL, queued_at DOUBLE PRECISION NOT NULL,
            called_at DOUBLE PRECISION, finished_at DOUBLE PRECISION, win INTEGER, clerk TEXT, recalls INTEGER NOT NULL DEFAULT 0,
            transferred_from TEXT, print_job TEXT, print_error TEXT,
            PRIMARY KEY (hall, id), UNIQUE (hall, day, issue_service, seq)
        )
        """,
        "CREATE INDEX ticket_day ON ticket (hall, day)",
        """
        CREATE TABLE rating (
            hall TEXT NOT NULL, ticket TEXT NOT NULL, number TEXT NOT NULL, service TEXT NOT NULL, win INTEGER NOT NULL,
            clerk TEXT, level TEXT, time DOUBLE PRECISION NOT NULL, channel TEXT NOT NULL,
            PRIMARY KEY (hall, ticket)
        )
        """,
        "CREATE INDEX rating_time ON rating (hall, time)",
        """
        CREATE TABLE hall_window (
            hall TEXT NOT NULL, number INTEGER NOT NULL, state TEXT NOT NULL, away TEXT, clerk TEXT, current TEXT,
            PRIMARY KEY (hall, number)
        )
        """,
        """
        CREATE TABLE appointment (
            hall TEXT NOT NULL, code TEXT NOT NULL, service TEXT NOT NULL, slot DOUBLE PRECISION NOT NULL, ticket TEXT,
            PRIMARY KEY (hall, code)
        )
        """,
        "CREATE TABLE hall_sequence (hall TEXT PRIMARY KEY, last BIGINT NOT NULL)",
        """
        CREATE TABLE event (
            hall TEXT NOT NULL, seq BIGINT NOT NULL, type TEXT NOT NULL, device TEXT, time TEXT NOT NULL, data TEXT NOT NULL,
            PRIMARY KEY (hall, seq)
        )
        """,
        "CREATE INDEX event_time ON event (hall, time)",
    ]

    /// One transaction; a rule the closure refused (`HallStoreError`) comes out as itself.
    private func transaction<T: Sendable>(_ body: (PostgresConnection) async throws -> T) async throws -> T {
        do {
            // On the connection's own event loop: each statement's answer resumes the
            // transaction where it arrived, not on another thread (a third more issues
            // a second in hall-bench, where every thread hop costs a wake-up).
            return try await client.withConnection { connection in
                try await withTaskExecutorPreference(EventLoopTaskExecutor.of(connection.eventLoop)) {
                    try await connection.withTransaction(logger: logger) { c in try await body(c) }
                }
            }
        } catch let error as PostgresTransactionError {
            // What went wrong inside (a rule refused, a statement failed) comes out as itself.
            if let inner = error.closureError { throw inner }
            if let begin = error.beginError { throw begin }
            if let commit = error.commitError { throw commit }
            throw error
        }
    }

    /// Runs one operation of the hall: at once `unavailable` while the server is known
    /// to be unreachable; `unavailable` too when it cannot be done within `timeout`
    /// (`operationTimeout` unless given) or the connection fails. A rule the store refused and an
    /// error of the server on a statement (a bug, not an outage) come out as they are.
    func guarded<T: Sendable>(duringOutage: Bool = false, timeout: Duration? = nil, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
        if !duringOutage, let reason = outage.withLock({ $0 }) { throw HallStoreError.unavailable(store: description, reason: reason) }
        let (timeout, store) = (timeout ?? operationTimeout, description)
        do {
            return try await Self.within(timeout, body)
        } catch HallStoreError.unavailable(_, let reason) {
            throw HallStoreError.unavailable(store: store, reason: reason)
        } catch let error as HallStoreError {
            throw error
        } catch let error as HallMembershipError {
            throw error
        } catch let error as CallersError {
            throw error.error
        } catch let error as PSQLError where error.serverInfo?[.sqlState] != nil && !Self.isOutage(error) {
            throw error
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            throw HallStoreError.unavailable(store: store, reason: Self.reason(error))
        }
    }

    /// Server errors that mean the server is going away rather than a bad statement.
    static func isOutage(_ error: PSQLError) -> Bool {
        guard let state = error.serverInfo?[.sqlState] else { return true }
        // 57P01 admin_shutdown, 57P02 crash_shutdown, 57P03 cannot_connect_now, 08xxx connection exceptions.
        return state.hasPrefix("57P") || state.hasPrefix("08")
    }

    /// A short sentence for an error of the connection.
    static func reason(_ error: any Error) -> String {
        if let e = error as? PSQLError {
            if let message = e.serverInfo?[.message] { return message }
            if let underlying = e.underlying { return "\(e.code): \(underlying)" }
            return "\(e.code)"
        }
        return "\(error)"
    }

    /// The follower lost the server (`reason`) or has it again (nil): while lost, hall
    /// operations answer `unavailable` at once.
    public func setOutage(_ reason: String?) { outage.withLock { $0 = reason } }

    /// Why the server is unreachable, when it is known to be.
    public var currentOutage: String? { outage.withLock { $0 } }

    // MARK: tickets

    public func issueTicket(_ new: NewTicket) async throws -> Ticket {
        try await guarded { [self] in
            try await transaction { c in try await insertTicket(c, new) }
        }
    }

    /// Numbers and inserts a ticket (and checks its appointment in), inside the caller's transaction.
    private func insertTicket(_ c: PostgresConnection, _ new: NewTicket) async throws -> Ticket {
        let hall = hall
        // Two issues of one service and day, from any PC, take their numbers in turn.
        let key = "\(hall)|\(new.day)|\(new.service)"
        try await c.query("SELECT pg_advisory_xact_lock(hashtext(\(key)))", logger: logger)
        var slot: Double?
        if let code = new.appointment {
            let rows = try await c.query(
                "SELECT service, slot, ticket, state FROM appointment WHERE hall = \(hall) AND code = \(code) FOR UPDATE", logger: logger
            ).collect()
            guard let row = rows.first else { throw HallStoreError.unknownAppointment }
            let (service, at, used, state) = try row.decode((String, Double, String?, String).self)
            guard service == new.service else { throw HallStoreError.unknownAppointment }
            if let used { throw HallStoreError.appointmentUsed(ticket: used) }
            guard state == Appointment.State.booked.rawValue else { throw HallStoreError.appointmentClosed(Appointment.State(rawValue: state) ?? .cancelled) }
            slot = at
            try await c.query(
                "UPDATE appointment SET ticket = \(new.id), state = \(Appointment.State.checkedIn.rawValue) WHERE hall = \(hall) AND code = \(code)", logger: logger)
        }
        // The next number and the row in one statement (one round trip), after the lock:
        // a statement sees what was committed before it began, so the lock comes first.
        // The number is the service's code and the sequence, at least three digits, as
        // `Ticket.number` writes it; none comes back when the day's cap is reached.
        let at = new.at.timeIntervalSince1970
        let waiting = TicketState.waiting.rawValue
        let row = try await c.query(
            """
            INSERT INTO ticket (hall, id, day, service, issue_service, seq, number, priority, appointment, slot, state, issued_at, queued_at)
            SELECT \(hall), \(new.id), \(new.day), \(new.service), \(new.service), next.seq,
                   \(new.service) || CASE WHEN next.seq < 1000 THEN lpad(next.seq::text, 3, '0') ELSE next.seq::text END,
                   \(new.priority.rawValue), \(new.appointment), \(slot), \(waiting), \(at), \(at)
            FROM (SELECT COALESCE(MAX(seq), 0) + 1 AS seq FROM ticket WHERE hall = \(hall) AND day = \(new.day) AND issue_service = \(new.service)) AS next
            WHERE \(new.dailyCap)::integer IS NULL OR next.seq <= \(new.dailyCap)::integer
            RETURNING number
            """, logger: logger
        ).collect().first
        guard let row else { throw HallStoreError.dailyCapReached(new.dailyCap ?? 0) }
        return Ticket(
            id: new.id, number: try row.decode(String.self), service: new.service, day: new.day, priority: new.priority,
            appointment: new.appointment, slot: slot.map(Date.init(timeIntervalSince1970:)), state: .waiting, issuedAt: new.at, queuedAt: new.at,
            recalls: 0)
    }

    public func updateTicket(_ t: Ticket, from previous: TicketState) async throws {
        let hall = hall
        try await guarded { [self] in
            let changed = try await client.query(
                """
                UPDATE ticket SET service = \(t.service), state = \(t.state.rawValue), queued_at = \(t.queuedAt.timeIntervalSince1970),
                    called_at = \(t.calledAt?.timeIntervalSince1970), finished_at = \(t.finishedAt?.timeIntervalSince1970), win = \(t.window),
                    clerk = \(t.clerk), recalls = \(t.recalls), transferred_from = \(t.transferredFrom), print_job = \(t.printJob),
                    print_error = \(t.printError), staff_id = \(t.staffId)
                WHERE hall = \(hall) AND id = \(t.id) AND state = \(previous.rawValue) RETURNING id
                """, logger: logger
            ).collect()
            if changed.isEmpty {
                let now = try await client.query("SELECT state FROM ticket WHERE hall = \(hall) AND id = \(t.id)", logger: logger).collect().first?.decode(String.self)
                throw HallStoreError.stateChanged(now: now.flatMap(TicketState.init(rawValue:)))
            }
        }
    }

    public func markOverdue(ticket id: String, limit: String) async throws -> Bool {
        let hall = hall
        return try await guarded { [self] in
            try await transaction { c in
                let rows = try await c.query("SELECT overdue FROM ticket WHERE hall = \(hall) AND id = \(id) FOR UPDATE", logger: logger).collect()
                guard let row = rows.first else { return false }
                var limits = try row.decode(String?.self).flatMap { try? JSONDecoder().decode([String].self, from: Data($0.utf8)) } ?? []
                guard !limits.contains(limit) else { return false }
                limits.append(limit)
                try await c.query("UPDATE ticket SET overdue = \(Self.json(limits)) WHERE hall = \(hall) AND id = \(id)", logger: logger)
                return true
            }
        }
    }

    public func tickets(day: String) async throws -> [Ticket] {
        try await guarded { [self] in
            try await tickets(
                """
                SELECT \(unescaped: Self.ticketColumns) FROM ticket WHERE hall = \(hall) AND day = \(day) ORDER BY issued_at, id
                """
            ).map(\.ticket)
        }
    }

    /// The columns `tickets(_:)` reads, in its order.
    static let ticketColumns = """
        id, number, service, day, priority, appointment, slot, state, issued_at, queued_at, called_at, finished_at, win, clerk,
        recalls, transferred_from, print_job, print_error, hall, staff_id, overdue
        """

    /// Tickets with their hall.
    private func tickets(_ query: PostgresQuery) async throws -> [(hall: String, ticket: Ticket)] {
        var out: [(hall: String, ticket: Ticket)] = []
        for try await row in try await client.query(query, logger: logger) {
            let r = row.makeRandomAccess()
            func date(_ i: Int) throws -> Date? { try r[i].decode(Double?.self).map(Date.init(timeIntervalSince1970:)) }
            let t = Ticket(
                id: try r[0].decode(String.self), number: try r[1].decode(String.self), service: try r[2].decode(String.self),
                day: try r[3].decode(String.self), priority: TicketPriority(rawValue: try r[4].decode(String.self)) ?? .normal,
                appointment: try r[5].decode(String?.self), slot: try date(6), state: TicketState(rawValue: try r[7].decode(String.self)) ?? .waiting,
                issuedAt: try date(8) ?? Date(timeIntervalSince1970: 0), queuedAt: try date(9) ?? Date(timeIntervalSince1970: 0),
                calledAt: try date(10), finishedAt: try date(11), window: try r[12].decode(Int?.self), clerk: try r[13].decode(String?.self),
                recalls: try r[14].decode(Int.self), transferredFrom: try r[15].decode(String?.self), printJob: try r[16].decode(String?.self),
                printError: try r[17].decode(String?.self), staffId: try r[19].decode(String?.self),
                overdue: try r[20].decode(String?.self).flatMap { try? JSONDecoder().decode([String].self, from: Data($0.utf8)) })
            out.append((try r[18].decode(String.self), t))
        }
        return out
    }

    /// Every hall's tickets and ratings of `day`, by hall: the district's figures.
    public func district(day: String) async throws -> [String: HallDay] {
        try await guarded { [self] in
            var days: [String: HallDay] = [:]
            for (hall, t) in try await tickets(
                """
                SELECT \(unescaped: Self.ticketColumns) FROM ticket WHERE day = \(day) ORDER BY hall, issued_at, id
                """)
            {
                days[hall, default: HallDay()].tickets.append(t)
            }
            // Each of the day's tickets looks its rating up by the rating's key (OFFSET 0 keeps
            // the planner from making this a hash join over every rating of the database's
            // history: 340 ms → 195 ms at 1.7 million ratings, and not growing with them).
            for (hall, r) in try await ratingsWithHall(
                """
                SELECT r.ticket, r.number, r.service, r.win, r.clerk, r.level, r.time, r.channel, r.hall, r.staff_id FROM ticket t
                CROSS JOIN LATERAL (SELECT * FROM rating WHERE rating.hall = t.hall AND rating.ticket = t.id OFFSET 0) r
                WHERE t.day = \(day) ORDER BY r.time
                """)
            {
                days[hall, default: HallDay()].ratings.append(r)
            }
            return days
        }
    }

    // MARK: ratings

    public func saveRating(_ r: Rating) async throws {
        try await guarded { [self] in
            do {
                try await client.query(
                    """
                    INSERT INTO rating (hall, ticket, number, service, win, clerk, level, time, channel, staff_id)
                    VALUES (\(hall), \(r.ticket), \(r.number), \(r.service), \(r.window), \(r.clerk), \(r.level?.rawValue), \(r.time.timeIntervalSince1970), \(r.channel),
                            \(r.staffId))
                    """, logger: logger)
            } catch let error as PSQLError where error.serverInfo?[.sqlState] == "23505" {
                throw HallStoreError.alreadyRated
            }
        }
    }

    public func ratings(from: Date, to: Date, window: Int?) async throws -> [Rating] {
        try await guarded { [self] in
            let (f, t) = (from.timeIntervalSince1970, to.timeIntervalSince1970)
            if let window {
                return try await ratings(
                    "SELECT ticket, number, service, win, clerk, level, time, channel, hall, staff_id FROM rating WHERE hall = \(hall) AND time >= \(f) AND time < \(t) AND win = \(window) ORDER BY time")
            }
            return try await ratings(
                "SELECT ticket, number, service, win, clerk, level, time, channel, hall, staff_id FROM rating WHERE hall = \(hall) AND time >= \(f) AND time < \(t) ORDER BY time")
        }
    }

    public func ratings(day: String) async throws -> [Rating] {
        try await guarded { [self] in
            try await ratings(
                """
                SELECT r.ticket, r.number, r.service, r.win, r.clerk, r.level, r.time, r.channel, r.hall, r.staff_id FROM rating r
                JOIN ticket t ON t.hall = r.hall AND t.id = r.ticket WHERE r.hall = \(hall) AND t.day = \(day) ORDER BY r.time
                """)
        }
    }

    /// Ratings with their hall: the query selects ticket, number, service, win, clerk,
    /// level, time, channel, hall and staff_id.
    private func ratingsWithHall(_ query: PostgresQuery) async throws -> [(hall: String, rating: Rating)] {
        var out: [(hall: String, rating: Rating)] = []
        for try await (ticket, number, service, window, clerk, level, time, channel, hall, staffId) in try await client.query(query, logger: logger).decode(
            (String, String, String, Int, String?, String?, Double, String, String, String?).self)
        {
            let l = level.flatMap(RatingLevel.init(rawValue:))
            out.append(
                (
                    hall,
                    Rating(
                        ticket: ticket, number: number, service: service, window: window, clerk: clerk, level: l, stars: l?.stars,
                        time: Date(timeIntervalSince1970: time), channel: channel, staffId: staffId)
                ))
        }
        return out
    }

    /// Ratings of one hall (the query selects the hall last, as `ratingsWithHall` reads).
    private func ratings(_ query: PostgresQuery) async throws -> [Rating] {
        try await ratingsWithHall(query).map(\.rating)
    }

    // MARK: windows and appointments

    public func saveWindow(_ w: StoredWindow) async throws {
        try await guarded { [self] in
            let encoder = JSONEncoder()
            let away = try w.away.map { String(decoding: try encoder.encode($0), as: UTF8.self) }
            let clerk = try w.clerk.map { String(decoding: try encoder.encode($0), as: UTF8.self) }
            let services = try w.services.map { String(decoding: try encoder.encode($0), as: UTF8.self) }
            try await client.query(
                """
                INSERT INTO hall_window (hall, number, state, away, clerk, current, services)
                VALUES (\(hall), \(w.number), \(w.state.rawValue), \(away), \(clerk), \(w.current), \(services))
                ON CONFLICT (hall, number) DO UPDATE SET state = excluded.state, away = excluded.away, clerk = excluded.clerk, current = excluded.current,
                    services = COALESCE(excluded.services, hall_window.services)
                """, logger: logger)
        }
    }

    public func windows() async throws -> [StoredWindow] {
        try await guarded { [self] in
            let decoder = JSONDecoder()
            var out: [StoredWindow] = []
            for try await (number, state, away, clerk, current, services) in try await client.query(
                "SELECT number, state, away, clerk, current, services FROM hall_window WHERE hall = \(hall) ORDER BY number", logger: logger
            ).decode((Int, String, String?, String?, String?, String?).self) {
                out.append(
                    StoredWindow(
                        number: number, state: WindowState(rawValue: state) ?? .closed,
                        away: away.flatMap { try? decoder.decode(AwayNotice.self, from: Data($0.utf8)) },
                        clerk: clerk.flatMap { try? decoder.decode(ClerkCard.self, from: Data($0.utf8)) }, current: current,
                        services: services.flatMap { try? decoder.decode([String].self, from: Data($0.utf8)) }))
            }
            return out
        }
    }

    public func addAppointment(_ a: Appointment) async throws {
        let data = Self.json(a)
        try await guarded { [self] in
            do {
                try await client.query(
                    """
                    INSERT INTO appointment (hall, code, service, slot, ticket, state, data)
                    VALUES (\(hall), \(a.code), \(a.service), \(a.slot.timeIntervalSince1970), \(a.ticket), \(a.state.rawValue), \(data))
                    """, logger: logger)
            } catch let error as PSQLError where error.serverInfo?[.sqlState] == "23505" {
                throw HallStoreError.appointmentExists
            }
        }
    }

    public func updateAppointment(_ a: Appointment, from previous: Appointment.State) async throws {
        let data = Self.json(a)
        try await guarded { [self] in
            let changed = try await client.query(
                """
                UPDATE appointment SET state = \(a.state.rawValue), ticket = \(a.ticket), data = \(data)
                WHERE hall = \(hall) AND code = \(a.code) AND state = \(previous.rawValue) RETURNING code
                """, logger: logger
            ).collect()
            if changed.isEmpty { throw HallStoreError.appointmentChanged(now: try await appointment(a.code)?.state) }
        }
    }

    public func appointment(_ code: String) async throws -> Appointment? {
        try await guarded { [self] in
            try await appointments("SELECT code, service, slot, ticket, state, data FROM appointment WHERE hall = \(hall) AND code = \(code)").first
        }
    }

    public func appointments(from: Date, to: Date) async throws -> [Appointment] {
        try await guarded { [self] in
            try await appointments(
                """
                SELECT code, service, slot, ticket, state, data FROM appointment
                WHERE hall = \(hall) AND slot >= \(from.timeIntervalSince1970) AND slot < \(to.timeIntervalSince1970) ORDER BY slot, code
                """)
        }
    }

    /// Appointments of a query selecting code, service, slot, ticket, state and data; the
    /// columns (ticket, state) are what a check-in changes.
    private func appointments(_ query: PostgresQuery) async throws -> [Appointment] {
        var out: [Appointment] = []
        for try await (code, service, slot, ticket, state, data) in try await client.query(query, logger: logger).decode(
            (String, String, Double, String?, String, String?).self)
        {
            var a = data.flatMap { try? JSONDecoder().decode(Appointment.self, from: Data($0.utf8)) }
                ?? Appointment(code: code, service: service, slot: Date(timeIntervalSince1970: slot))
            a.ticket = ticket
            a.state = Appointment.State(rawValue: state) ?? (ticket == nil ? .booked : .checkedIn)
            out.append(a)
        }
        return out
    }

    // MARK: notices

    public func saveNotice(_ n: Notice) async throws {
        let data = Self.json(n)
        try await guarded { [self] in
            try await client.query(
                """
                INSERT INTO hall_notice (hall, id, ticket, at, data) VALUES (\(hall), \(n.id), \(n.ticket), \(n.at.timeIntervalSince1970), \(data))
                ON CONFLICT (hall, id) DO UPDATE SET data = excluded.data
                """, logger: logger)
        }
    }

    public func notices(ticket: String) async throws -> [Notice] {
        try await guarded { [self] in
            var out: [Notice] = []
            for try await data in try await client.query(
                "SELECT data FROM hall_notice WHERE hall = \(hall) AND ticket = \(ticket) ORDER BY at, id", logger: logger
            ).decode(String.self) {
                out.append(try JSONDecoder().decode(Notice.self, from: Data(data.utf8)))
            }
            return out
        }
    }

    /// A value as JSON text (nil stays nil).
    static func json<T: Encodable>(_ value: T?) -> String? {
        value.flatMap { try? JSONEncoder().encode($0) }.map { String(decoding: $0, as: UTF8.self) }
    }

    // MARK: roster

    public func saveClerk(_ clerk: Clerk) async throws {
        let data = String(decoding: try JSONEncoder().encode(clerk), as: UTF8.self)
        try await guarded { [self] in
            try await client.query(
                """
                INSERT INTO hall_clerk (hall, staff_id, data) VALUES (\(hall), \(clerk.staffId), \(data))
                ON CONFLICT (hall, staff_id) DO UPDATE SET data = excluded.data
                """, logger: logger)
        }
    }

    public func clerks() async throws -> [Clerk] {
        try await guarded { [self] in
            var out: [Clerk] = []
            for try await data in try await client.query("SELECT data FROM hall_clerk WHERE hall = \(hall) ORDER BY staff_id", logger: logger).decode(String.self) {
                out.append(try JSONDecoder().decode(Clerk.self, from: Data(data.utf8)))
            }
            return out
        }
    }

    // MARK: referrals

    public func saveReferral(_ r: Referral) async throws {
        let data = String(decoding: try JSONEncoder().encode(r), as: UTF8.self)
        try await guarded { [self] in
            try await client.query(
                "INSERT INTO hall_referral (hall, id, at, data) VALUES (\(hall), \(r.id), \(r.at.timeIntervalSince1970), \(data))", logger: logger)
        }
    }

    public func referrals(from: Date, to: Date) async throws -> [Referral] {
        let (f, t) = (from.timeIntervalSince1970, to.timeIntervalSince1970)
        return try await guarded { [self] in
            var out: [Referral] = []
            for try await data in try await client.query(
                "SELECT data FROM hall_referral WHERE hall = \(hall) AND at >= \(f) AND at < \(t) ORDER BY at, id", logger: logger
            ).decode(String.self) {
                out.append(try JSONDecoder().decode(Referral.self, from: Data(data.utf8)))
            }
            return out
        }
    }

    // MARK: follow-ups

    public func saveFollowUp(_ f: FollowUp) async throws {
        let data = String(decoding: try JSONEncoder().encode(f), as: UTF8.self)
        try await guarded { [self] in
            try await client.query(
                """
                INSERT INTO hall_follow_up (hall, id, rated_at, data) VALUES (\(hall), \(f.id), \(f.ratedAt.timeIntervalSince1970), \(data))
                ON CONFLICT (hall, id) DO UPDATE SET data = excluded.data
                """, logger: logger)
        }
    }

    public func followUps() async throws -> [FollowUp] {
        try await guarded { [self] in
            var out: [FollowUp] = []
            for try await data in try await client.query("SELECT data FROM hall_follow_up WHERE hall = \(hall) ORDER BY rated_at, id", logger: logger).decode(String.self) {
                out.append(try JSONDecoder().decode(FollowUp.self, from: Data(data.utf8)))
            }
            return out
        }
    }

    // MARK: the 办不成事 ledger

    public func saveLedgerEntry(_ entry: LedgerEntry) async throws {
        let data = String(decoding: try JSONEncoder().encode(entry), as: UTF8.self)
        try await guarded { [self] in
            try await client.query(
                """
                INSERT INTO hall_ledger (hall, id, at, data) VALUES (\(hall), \(entry.id), \(entry.at.timeIntervalSince1970), \(data))
                ON CONFLICT (hall, id) DO UPDATE SET data = excluded.data
                """, logger: logger)
        }
    }

    public func ledger(from: Date, to: Date) async throws -> [LedgerEntry] {
        let (f, t) = (from.timeIntervalSince1970, to.timeIntervalSince1970)
        return try await guarded { [self] in
            var out: [LedgerEntry] = []
            for try await data in try await client.query(
                "SELECT data FROM hall_ledger WHERE hall = \(hall) AND at >= \(f) AND at < \(t) ORDER BY at, id", logger: logger
            ).decode(String.self) {
                out.append(try JSONDecoder().decode(LedgerEntry.self, from: Data(data.utf8)))
            }
            return out
        }
    }

    public func ledgerEntry(_ id: String) async throws -> LedgerEntry? {
        try await guarded { [self] in
            for try await data in try await client.query("SELECT data FROM hall_ledger WHERE hall = \(hall) AND id = \(id)", logger: logger).decode(String.self) {
                return try JSONDecoder().decode(LedgerEntry.self, from: Data(data.utf8))
            }
            return nil
        }
    }

    // MARK: events

    public func appendEvent(_ event: NewEvent, time: String, committed: @escaping @Sendable (HallEvent) -> Void) async throws -> HallEvent {
        let data = String(decoding: try JSONEncoder().encode(event.data), as: UTF8.self)
        return try await guarded { [self] in
            try await self.appends.run {
                let seq = try await self.transaction { c in try await self.insertEvent(c, event, data: data, time: time) }
                let stored = HallEvent(seq: seq, type: event.type, time: time, device: event.device, data: event.data)
                committed(stored)
                return stored
            }
        }
    }

    /// Takes the hall's next sequence number, stores the event under it and notifies
    /// every listening halld, in one statement (one round trip) inside the caller's
    /// transaction. The counter row stays locked until commit, so numbers follow commit
    /// order with no gaps; the notification goes out when (and only if) it commits.
    private func insertEvent(_ c: PostgresConnection, _ event: NewEvent, data: String, time: String) async throws -> Int64 {
        let (hall, origin) = (hall, origin)
        let row = try await c.query(
            """
            WITH next AS (
                INSERT INTO hall_sequence (hall, last) VALUES (\(hall), 1)
                ON CONFLICT (hall) DO UPDATE SET last = hall_sequence.last + 1 RETURNING last
            ), stored AS (
                INSERT INTO event (hall, seq, type, device, time, data, origin)
                SELECT \(hall), last, \(event.type), \(event.device?.rawValue), \(time), \(data), \(origin) FROM next RETURNING seq
            )
            SELECT stored.seq FROM stored, LATERAL (SELECT pg_notify(\(Self.eventChannel), \(hall))) AS notified
            """, logger: logger
        ).collect().first
        guard let row else { throw HallStoreError.unavailable(store: description, reason: "the event was not stored") }
        return try row.decode(Int64.self)
    }

    /// The channel every hall's appends notify, with the hall's id as payload.
    static let eventChannel = "halld_events"

    /// The hall's events as any halld of the hall commits them, from after `seq` on:
    /// what is stored first, then each new one as PostgreSQL notifies it. Each
    /// notification is a cue to read what follows the last event given, so events
    /// come once each, in sequence order, even when notifications are merged or the
    /// stream starts while others append. Ends with an error when the connection is
    /// lost (or cannot be made within the connect timeout); the caller follows again
    /// from the last sequence it saw.
    public func follow(after seq: Int64) -> AsyncThrowingStream<SharedEvent, any Error> {
        let (stream, continuation) = AsyncThrowingStream.makeStream(of: SharedEvent.self)
        let (client, hall, logger) = (client, hall, logger)
        let generation = followGeneration.add(1, ordering: .acquiringAndReleasing).newValue
        let lost = { @Sendable [self] (reason: String) in
            if followGeneration.load(ordering: .acquiring) == generation { setOutage(reason) }
        }
        let task = Task { [self] in
            do {
                try await client.withConnection { connection in
                    try await connection.listen(on: Self.eventChannel) { notifications in
                        // Listening before the first read: nothing committed meanwhile is missed.
                        var last = seq
                        func drain() async throws {
                            while true {
                                let page = try await Self.events(on: connection, hall: hall, after: last, limit: 500, types: nil, logger: logger)
                                for shared in page {
                                    continuation.yield(shared)
                                    last = shared.event.seq
                                }
                                if page.count < 500 { return }
                            }
                        }
                        try await drain()
                        if followGeneration.load(ordering: .acquiring) == generation { setOutage(nil) }
                        // The connection proves itself every second: a server that went
                        // away (shut down, a pulled cable) can leave the notifications and
                        // a query waiting for ever, so a beat that fails ends the stream
                        // itself, closes the connection and leaves the rest to cancellation.
                        let beats = Task { [self] in
                            do {
                                while true {
                                    try await Task.sleep(for: .seconds(1))
                                    try await Self.within(.seconds(2)) { _ = try await connection.query("SELECT 1", logger: logger).collect() }
                                }
                            } catch is CancellationError {
                            } catch {
                                let reason = Self.reason(error)
                                logger.warning("the hall's store stopped answering: \(reason)")
                                lost(reason)
                                continuation.finish(throwing: HallStoreError.unavailable(store: self.description, reason: reason))
                                try? await connection.close()
                            }
                        }
                        defer { beats.cancel() }
                        for try await notification in notifications where notification.payload == hall {
                            try await drain()
                        }
                    }
                }
                continuation.finish()
            } catch is CancellationError {
                continuation.finish()
            } catch {
                let reason = Self.reason(error)
                lost(reason)
                continuation.finish(throwing: HallStoreError.unavailable(store: self.description, reason: reason))
            }
        }
        continuation.onTermination = { _ in task.cancel() }
        return stream
    }

    /// The result of `body`, or `unavailable` when it takes longer than `timeout`. The
    /// caller does not wait for a body that ignores cancellation (a query on a
    /// connection that went silent): it goes on in the background, cancelled.
    static func within<T: Sendable>(_ timeout: Duration, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
        let outcome = Mutex<CheckedContinuation<T, any Error>?>(nil)
        let resume = { @Sendable (result: Result<T, any Error>) in
            outcome.withLock { c in
                c?.resume(with: result)
                c = nil
            }
        }
        var work: Task<Void, Never>?
        var timer: Task<Void, Never>?
        defer {
            work?.cancel()
            timer?.cancel()
        }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (c: CheckedContinuation<T, any Error>) in
                outcome.withLock { $0 = c }
                work = Task {
                    do { resume(.success(try await body())) } catch { resume(.failure(error)) }
                }
                timer = Task {
                    guard (try? await Task.sleep(for: timeout)) != nil else { return }
                    resume(.failure(HallStoreError.unavailable(store: "", reason: "no answer within \(timeout)")))
                }
            }
        } onCancel: {
            resume(.failure(CancellationError()))
        }
    }

    public func events(after seq: Int64, limit: Int, types: Set<String>?) async throws -> [HallEvent] {
        try await guarded { [self] in
            try await client.withConnection { connection in
                try await Self.events(on: connection, hall: hall, after: seq, limit: limit, types: types, logger: logger).map(\.event)
            }
        }
    }

    static func events(on connection: PostgresConnection, hall: String, after seq: Int64, limit: Int, types: Set<String>?, logger: Logger) async throws -> [SharedEvent] {
        let query: PostgresQuery
        if let types {
            let list = types.sorted()
            query = """
                SELECT seq, type, device, time, data, origin FROM event WHERE hall = \(hall) AND seq > \(seq)
                AND (type = ANY(\(list)) OR (position('.' in type) > 0 AND split_part(type, '.', 1) = ANY(\(list))))
                ORDER BY seq LIMIT \(limit)
                """
        } else {
            query = "SELECT seq, type, device, time, data, origin FROM event WHERE hall = \(hall) AND seq > \(seq) ORDER BY seq LIMIT \(limit)"
        }
        var out: [SharedEvent] = []
        for try await (seq, type, device, time, data, origin) in try await connection.query(query, logger: logger).decode((Int64, String, String?, String, String, String).self) {
            let value = (try? JSONDecoder().decode(JSONValue.self, from: Data(data.utf8))) ?? .null
            out.append(SharedEvent(event: HallEvent(seq: seq, type: type, time: time, device: device.flatMap(DeviceID.init), data: value), origin: origin))
        }
        return out
    }

    public func firstEventSequence() async throws -> Int64 {
        try await guarded { [self] in
            let first = try await client.query("SELECT MIN(seq) FROM event WHERE hall = \(hall)", logger: logger).collect().first?.decode(Int64?.self)
            if let first { return first }
            return try await lastEventSequence() + 1
        }
    }

    public func lastEventSequence() async throws -> Int64 {
        try await guarded { [self] in
            try await client.query("SELECT last FROM hall_sequence WHERE hall = \(hall)", logger: logger).collect().first?.decode(Int64.self) ?? 0
        }
    }

    public func deleteEvents(before cutoff: String) async throws -> Int {
        try await guarded { [self] in
            let rows = try await client.query("DELETE FROM event WHERE hall = \(hall) AND time < \(cutoff) RETURNING seq", logger: logger).collect()
            return rows.count
        }
    }
}

/// A store URL or setting that cannot be used.
public struct HallStoreConfigurationError: Error, CustomStringConvertible, Sendable {
    public let description: String
    init(_ description: String) { self.description = description }
}

/// One holder at a time, first come first served, without blocking a thread.
final class AsyncLock: Sendable {
    private struct State {
        var held = false
        var nextID = 0
        var waiters: [(id: Int, continuation: CheckedContinuation<Void, any Error>)] = []
    }
    private let state = Mutex(State())

    /// Runs `body` when the lock is free, in the order callers came. A caller cancelled
    /// while it waits (its operation timed out) leaves the queue at once with a
    /// CancellationError: its body never runs late, after its caller has given up.
    func run<T: Sendable>(_ body: () async throws -> T) async throws -> T {
        try await acquire()
        defer { release() }
        return try await body()
    }

    /// Callers waiting for the lock (for tests).
    var waiting: Int { state.withLock { $0.waiters.count } }

    private func acquire() async throws {
        let id = state.withLock { s -> Int in
            s.nextID += 1
            return s.nextID
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (c: CheckedContinuation<Void, any Error>) in
                let now = state.withLock { s -> Result<Void, any Error>? in
                    if Task.isCancelled { return .failure(CancellationError()) }
                    if !s.held {
                        s.held = true
                        return .success(())
                    }
                    s.waiters.append((id, c))
                    return nil
                }
                if let now { c.resume(with: now) }
            }
        } onCancel: {
            let left = state.withLock { s -> CheckedContinuation<Void, any Error>? in
                guard let i = s.waiters.firstIndex(where: { $0.id == id }) else { return nil }
                return s.waiters.remove(at: i).continuation
            }
            left?.resume(throwing: CancellationError())
        }
    }

    private func release() {
        let next = state.withLock { s -> CheckedContinuation<Void, any Error>? in
            if s.waiters.isEmpty {
                s.held = false
                return nil
            }
            return s.waiters.removeFirst().continuation
        }
        next?.resume()
    }
}

extension PostgresHallStore: TicketEventStore {
    /// The ticket and its `ticket.issued` event in one transaction: a ticket is never in
    /// the hall without its event (no halld killed between the two leaves one for the
    /// resync to find), and an issue takes one commit and five round trips instead of two
    /// and ten. The hall's sequence row is locked from the event's insert to the commit,
    /// so numbers still follow commit order across every halld of the hall.
    ///
    /// Unlike `appendEvent`, issues are not queued behind this halld's other appends: an
    /// issue waits for its service's number lock while another PC's issue holds it, and
    /// every event of this halld would wait behind it (queued, `outageAndCrash` failed:
    /// issues answered 503 for 20 s after the server was back). So `committed` runs once
    /// its transaction committed, and two issues at once may run theirs out of sequence
    /// order. The shared hall's events reach this halld's subscribers through its
    /// follower, which reads them in order (`SharedHallEvents` gives no `committed` work).
    public func issueTicket(
        _ new: NewTicket, event: @escaping @Sendable (Ticket) throws -> NewEvent, time: String, committed: @escaping @Sendable (HallEvent) -> Void
    ) async throws -> (Ticket, HallEvent) {
        try await guarded { [self] in
            let (ticket, e, seq) = try await self.transaction { c in
                let ticket = try await self.insertTicket(c, new)
                let e: NewEvent
                do { e = try event(ticket) } catch { throw CallersError(error: error) }
                let data = String(decoding: try JSONEncoder().encode(e.data), as: UTF8.self)
                return (ticket, e, try await self.insertEvent(c, e, data: data, time: time))
            }
            let stored = HallEvent(seq: seq, type: e.type, time: time, device: e.device, data: e.data)
            committed(stored)
            return (ticket, stored)
        }
    }
}

/// An error of the caller's own closure inside an operation: it comes out as itself,
/// not as the store being unavailable.
struct CallersError: Error {
    let error: any Error
}
