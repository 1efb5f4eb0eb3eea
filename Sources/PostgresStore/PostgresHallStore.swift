import DeviceKit
import Foundation
import HallModel
import Logging
import PostgresNIO
import Synchronization

/// The hall's store in PostgreSQL, for a hall shared by several PCs (and a district's
/// halls in one database: every row carries its hall's id). Every write is one
/// transaction with synchronous commit: when it returns it is on the server's disk.
/// Ticket numbers are taken under a transaction-scoped advisory lock per hall, day
/// and service, and a unique constraint stands behind it; event sequence numbers come
/// from one counter row per hall, so they have no gaps and follow commit order.
public final class PostgresHallStore: HallStore {
    public let hall: String
    /// `postgresql://USER@HOST:PORT/DB` without the password, for messages.
    public let description: String
    private let client: PostgresClient
    private let runner: Task<Void, Never>
    private let logger: Logger
    /// Appends of this process, one at a time: `committed` runs in sequence order.
    private let appends = AsyncLock()

    /// Connects to `url` (`postgresql://USER@HOST:PORT/DB`) as hall `hall`, with the
    /// password given apart (never in the URL of a configuration file).
    public init(url: String, password: String? = nil, hall: String, logger: Logger) throws {
        guard let parts = URLComponents(string: url), parts.scheme == "postgresql" || parts.scheme == "postgres",
            let host = parts.host, !host.isEmpty, let user = parts.user, !user.isEmpty
        else {
            throw HallStoreConfigurationError("expected postgresql://USER@HOST:PORT/DB, found \"\(url)\"")
        }
        let database = parts.path.hasPrefix("/") ? String(parts.path.dropFirst()) : parts.path
        var configuration = PostgresClient.Configuration(
            host: host, port: parts.port ?? 5432, username: user, password: password ?? parts.password, database: database.isEmpty ? nil : database, tls: .disable)
        configuration.options.connectTimeout = .seconds(10)
        self.hall = hall
        self.description = "postgresql://\(user)@\(host):\(parts.port ?? 5432)/\(database)"
        self.logger = logger
        let client = PostgresClient(configuration: configuration, backgroundLogger: logger)
        self.client = client
        runner = Task { await client.run() }
    }

    deinit { runner.cancel() }

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
            if applied < 1 {
                for statement in Self.schemaV1 { try await c.query(PostgresQuery(unsafeSQL: statement), logger: logger) }
                try await c.query("INSERT INTO halld_schema (version) VALUES (1)", logger: logger)
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
            return try await client.withTransaction(logger: logger) { c in try await body(c) }
        } catch let error as PostgresTransactionError {
            if let refused = error.closureError as? HallStoreError { throw refused }
            throw error
        }
    }

    // MARK: tickets

    public func issueTicket(_ new: NewTicket) async throws -> Ticket {
        let hall = hall
        return try await transaction { c in
            // Two issues of one service and day, from any PC, take their numbers in turn.
            let key = "\(hall)|\(new.day)|\(new.service)"
            try await c.query("SELECT pg_advisory_xact_lock(hashtext(\(key)))", logger: logger)
            var slot: Double?
            if let code = new.appointment {
                let rows = try await c.query(
                    "SELECT service, slot, ticket FROM appointment WHERE hall = \(hall) AND code = \(code) FOR UPDATE", logger: logger
                ).collect()
                guard let row = rows.first else { throw HallStoreError.unknownAppointment }
                let (service, at, used) = try row.decode((String, Double, String?).self)
                guard service == new.service else { throw HallStoreError.unknownAppointment }
                if let used { throw HallStoreError.appointmentUsed(ticket: used) }
                slot = at
                try await c.query("UPDATE appointment SET ticket = \(new.id) WHERE hall = \(hall) AND code = \(code)", logger: logger)
            }
            let last = try await c.query(
                "SELECT COALESCE(MAX(seq), 0) FROM ticket WHERE hall = \(hall) AND day = \(new.day) AND issue_service = \(new.service)", logger: logger
            ).collect().first?.decode(Int.self) ?? 0
            if let cap = new.dailyCap, last >= cap { throw HallStoreError.dailyCapReached(cap) }
            let t = Ticket(
                id: new.id, number: Ticket.number(prefix: new.service, seq: last + 1), service: new.service, day: new.day, priority: new.priority,
                appointment: new.appointment, slot: slot.map(Date.init(timeIntervalSince1970:)), state: .waiting, issuedAt: new.at, queuedAt: new.at,
                recalls: 0)
            let at = new.at.timeIntervalSince1970
            try await c.query(
                """
                INSERT INTO ticket (hall, id, day, service, issue_service, seq, number, priority, appointment, slot, state, issued_at, queued_at)
                VALUES (\(hall), \(t.id), \(t.day), \(t.service), \(t.service), \(last + 1), \(t.number), \(t.priority.rawValue), \(t.appointment),
                        \(slot), \(t.state.rawValue), \(at), \(at))
                """, logger: logger)
            return t
        }
    }

    public func updateTicket(_ t: Ticket) async throws {
        try await client.query(
            """
            UPDATE ticket SET service = \(t.service), state = \(t.state.rawValue), queued_at = \(t.queuedAt.timeIntervalSince1970),
                called_at = \(t.calledAt?.timeIntervalSince1970), finished_at = \(t.finishedAt?.timeIntervalSince1970), win = \(t.window),
                clerk = \(t.clerk), recalls = \(t.recalls), transferred_from = \(t.transferredFrom), print_job = \(t.printJob),
                print_error = \(t.printError)
            WHERE hall = \(hall) AND id = \(t.id)
            """, logger: logger)
    }

    public func tickets(day: String) async throws -> [Ticket] {
        let rows = try await client.query(
            """
            SELECT id, number, service, day, priority, appointment, slot, state, issued_at, queued_at, called_at, finished_at, win, clerk,
                   recalls, transferred_from, print_job, print_error
            FROM ticket WHERE hall = \(hall) AND day = \(day) ORDER BY issued_at, id
            """, logger: logger)
        var out: [Ticket] = []
        for try await row in rows {
            let r = row.makeRandomAccess()
            func date(_ i: Int) throws -> Date? { try r[i].decode(Double?.self).map(Date.init(timeIntervalSince1970:)) }
            out.append(
                Ticket(
                    id: try r[0].decode(String.self), number: try r[1].decode(String.self), service: try r[2].decode(String.self),
                    day: try r[3].decode(String.self), priority: TicketPriority(rawValue: try r[4].decode(String.self)) ?? .normal,
                    appointment: try r[5].decode(String?.self), slot: try date(6), state: TicketState(rawValue: try r[7].decode(String.self)) ?? .waiting,
                    issuedAt: try date(8) ?? Date(timeIntervalSince1970: 0), queuedAt: try date(9) ?? Date(timeIntervalSince1970: 0),
                    calledAt: try date(10), finishedAt: try date(11), window: try r[12].decode(Int?.self), clerk: try r[13].decode(String?.self),
                    recalls: try r[14].decode(Int.self), transferredFrom: try r[15].decode(String?.self), printJob: try r[16].decode(String?.self),
                    printError: try r[17].decode(String?.self)))
        }
        return out
    }

    // MARK: ratings

    public func saveRating(_ r: Rating) async throws {
        do {
            try await client.query(
                """
                INSERT INTO rating (hall, ticket, number, service, win, clerk, level, time, channel)
                VALUES (\(hall), \(r.ticket), \(r.number), \(r.service), \(r.window), \(r.clerk), \(r.level?.rawValue), \(r.time.timeIntervalSince1970), \(r.channel))
                """, logger: logger)
        } catch let error as PSQLError where error.serverInfo?[.sqlState] == "23505" {
            throw HallStoreError.alreadyRated
        }
    }

    public func ratings(from: Date, to: Date, window: Int?) async throws -> [Rating] {
        let (f, t) = (from.timeIntervalSince1970, to.timeIntervalSince1970)
        if let window {
            return try await ratings(
                "SELECT ticket, number, service, win, clerk, level, time, channel FROM rating WHERE hall = \(hall) AND time >= \(f) AND time < \(t) AND win = \(window) ORDER BY time")
        }
        return try await ratings(
            "SELECT ticket, number, service, win, clerk, level, time, channel FROM rating WHERE hall = \(hall) AND time >= \(f) AND time < \(t) ORDER BY time")
    }

    public func ratings(day: String) async throws -> [Rating] {
        try await ratings(
            """
            SELECT r.ticket, r.number, r.service, r.win, r.clerk, r.level, r.time, r.channel FROM rating r
            JOIN ticket t ON t.hall = r.hall AND t.id = r.ticket WHERE r.hall = \(hall) AND t.day = \(day) ORDER BY r.time
            """)
    }

    private func ratings(_ query: PostgresQuery) async throws -> [Rating] {
        var out: [Rating] = []
        for try await (ticket, number, service, window, clerk, level, time, channel) in try await client.query(query, logger: logger).decode(
            (String, String, String, Int, String?, String?, Double, String).self)
        {
            let l = level.flatMap(RatingLevel.init(rawValue:))
            out.append(
                Rating(
                    ticket: ticket, number: number, service: service, window: window, clerk: clerk, level: l, stars: l?.stars,
                    time: Date(timeIntervalSince1970: time), channel: channel))
        }
        return out
    }

    // MARK: windows and appointments

    public func saveWindow(_ w: StoredWindow) async throws {
        let encoder = JSONEncoder()
        let away = try w.away.map { String(decoding: try encoder.encode($0), as: UTF8.self) }
        let clerk = try w.clerk.map { String(decoding: try encoder.encode($0), as: UTF8.self) }
        try await client.query(
            """
            INSERT INTO hall_window (hall, number, state, away, clerk, current) VALUES (\(hall), \(w.number), \(w.state.rawValue), \(away), \(clerk), \(w.current))
            ON CONFLICT (hall, number) DO UPDATE SET state = excluded.state, away = excluded.away, clerk = excluded.clerk, current = excluded.current
            """, logger: logger)
    }

    public func windows() async throws -> [StoredWindow] {
        let decoder = JSONDecoder()
        var out: [StoredWindow] = []
        for try await (number, state, away, clerk, current) in try await client.query(
            "SELECT number, state, away, clerk, current FROM hall_window WHERE hall = \(hall) ORDER BY number", logger: logger
        ).decode((Int, String, String?, String?, String?).self) {
            out.append(
                StoredWindow(
                    number: number, state: WindowState(rawValue: state) ?? .closed,
                    away: away.flatMap { try? decoder.decode(AwayNotice.self, from: Data($0.utf8)) },
                    clerk: clerk.flatMap { try? decoder.decode(ClerkCard.self, from: Data($0.utf8)) }, current: current))
        }
        return out
    }

    public func saveAppointment(_ a: Appointment) async throws {
        try await client.query(
            """
            INSERT INTO appointment (hall, code, service, slot, ticket) VALUES (\(hall), \(a.code), \(a.service), \(a.slot.timeIntervalSince1970), \(a.ticket))
            ON CONFLICT (hall, code) DO UPDATE SET service = excluded.service, slot = excluded.slot, ticket = excluded.ticket
            """, logger: logger)
    }

    public func appointment(_ code: String) async throws -> Appointment? {
        for try await (service, slot, ticket) in try await client.query(
            "SELECT service, slot, ticket FROM appointment WHERE hall = \(hall) AND code = \(code)", logger: logger
        ).decode((String, Double, String?).self) {
            return Appointment(code: code, service: service, slot: Date(timeIntervalSince1970: slot), ticket: ticket)
        }
        return nil
    }

    // MARK: events

    public func appendEvent(_ event: NewEvent, time: String, committed: @escaping @Sendable (HallEvent) -> Void) async throws -> HallEvent {
        let data = String(decoding: try JSONEncoder().encode(event.data), as: UTF8.self)
        let hall = hall
        return try await appends.run {
            let seq = try await transaction { c in
                // The counter row is locked until commit: numbers follow commit order, with no gaps.
                let seq = try await c.query(
                    """
                    INSERT INTO hall_sequence (hall, last) VALUES (\(hall), 1)
                    ON CONFLICT (hall) DO UPDATE SET last = hall_sequence.last + 1 RETURNING last
                    """, logger: logger
                ).collect().first?.decode(Int64.self) ?? 0
                try await c.query(
                    "INSERT INTO event (hall, seq, type, device, time, data) VALUES (\(hall), \(seq), \(event.type), \(event.device?.rawValue), \(time), \(data))",
                    logger: logger)
                // Delivered to every listening halld when (and only if) this commits.
                try await c.query("SELECT pg_notify(\(Self.eventChannel), \(hall))", logger: logger)
                return seq
            }
            let stored = HallEvent(seq: seq, type: event.type, time: time, device: event.device, data: event.data)
            committed(stored)
            return stored
        }
    }

    /// The channel every hall's appends notify, with the hall's id as payload.
    static let eventChannel = "halld_events"

    /// The hall's events as any halld of the hall commits them, from after `seq` on:
    /// what is stored first, then each new one as PostgreSQL notifies it. Each
    /// notification is a cue to read what follows the last event given, so events
    /// come once each, in sequence order, even when notifications are merged or the
    /// stream starts while others append. Ends with an error when the connection is
    /// lost; the caller follows again from the last sequence it saw.
    public func follow(after seq: Int64) -> AsyncThrowingStream<HallEvent, any Error> {
        let (stream, continuation) = AsyncThrowingStream.makeStream(of: HallEvent.self)
        let (client, hall, logger) = (client, hall, logger)
        let task = Task {
            do {
                try await client.withConnection { connection in
                    try await connection.listen(on: Self.eventChannel) { notifications in
                        // Listening before the first read: nothing committed meanwhile is missed.
                        var last = seq
                        func drain() async throws {
                            while true {
                                let page = try await Self.events(on: connection, hall: hall, after: last, limit: 500, types: nil, logger: logger)
                                for event in page {
                                    continuation.yield(event)
                                    last = event.seq
                                }
                                if page.count < 500 { return }
                            }
                        }
                        try await drain()
                        for try await notification in notifications where notification.payload == hall {
                            try await drain()
                        }
                    }
                }
                continuation.finish()
            } catch {
                continuation.finish(throwing: error)
            }
        }
        continuation.onTermination = { _ in task.cancel() }
        return stream
    }

    public func events(after seq: Int64, limit: Int, types: Set<String>?) async throws -> [HallEvent] {
        try await client.withConnection { connection in
            try await Self.events(on: connection, hall: hall, after: seq, limit: limit, types: types, logger: logger)
        }
    }

    static func events(on connection: PostgresConnection, hall: String, after seq: Int64, limit: Int, types: Set<String>?, logger: Logger) async throws -> [HallEvent] {
        let query: PostgresQuery
        if let types {
            let list = types.sorted()
            query = """
                SELECT seq, type, device, time, data FROM event WHERE hall = \(hall) AND seq > \(seq)
                AND (type = ANY(\(list)) OR (position('.' in type) > 0 AND split_part(type, '.', 1) = ANY(\(list))))
                ORDER BY seq LIMIT \(limit)
                """
        } else {
            query = "SELECT seq, type, device, time, data FROM event WHERE hall = \(hall) AND seq > \(seq) ORDER BY seq LIMIT \(limit)"
        }
        var out: [HallEvent] = []
        for try await (seq, type, device, time, data) in try await connection.query(query, logger: logger).decode((Int64, String, String?, String, String).self) {
            let value = (try? JSONDecoder().decode(JSONValue.self, from: Data(data.utf8))) ?? .null
            out.append(HallEvent(seq: seq, type: type, time: time, device: device.flatMap(DeviceID.init), data: value))
        }
        return out
    }

    public func firstEventSequence() async throws -> Int64 {
        let first = try await client.query("SELECT MIN(seq) FROM event WHERE hall = \(hall)", logger: logger).collect().first?.decode(Int64?.self)
        if let first { return first }
        return try await lastEventSequence() + 1
    }

    public func lastEventSequence() async throws -> Int64 {
        try await client.query("SELECT last FROM hall_sequence WHERE hall = \(hall)", logger: logger).collect().first?.decode(Int64.self) ?? 0
    }

    public func deleteEvents(before cutoff: String) async throws -> Int {
        let rows = try await client.query("DELETE FROM event WHERE hall = \(hall) AND time < \(cutoff) RETURNING seq", logger: logger).collect()
        return rows.count
    }
}

/// A store URL or setting that cannot be used.
public struct HallStoreConfigurationError: Error, CustomStringConvertible, Sendable {
    public let description: String
    init(_ description: String) { self.description = description }
}

/// One holder at a time, first come first served, without blocking a thread.
final class AsyncLock: Sendable {
    private let state = Mutex<(held: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))

    func run<T: Sendable>(_ body: () async throws -> T) async throws -> T {
        await acquire()
        defer { release() }
        return try await body()
    }

    private func acquire() async {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let now = state.withLock { s -> Bool in
                if s.held {
                    s.waiters.append(c)
                    return false
                }
                s.held = true
                return true
            }
            if now { c.resume() }
        }
    }

    private func release() {
        let next = state.withLock { s -> CheckedContinuation<Void, Never>? in
            if s.waiters.isEmpty {
                s.held = false
                return nil
            }
            return s.waiters.removeFirst()
        }
        next?.resume()
    }
}
