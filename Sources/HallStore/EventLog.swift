import DeviceKit
import Foundation
import GRDB
import Synchronization

/// The event log: every event is stored with the next sequence number, then handed
/// to the live subscribers, in sequence order. Subscribers that fall behind are
/// cut off (`isLagged`) instead of growing the daemon's memory.
public final class EventLog: EventPublisher, Sendable {
    private let database: HallDatabase
    private let subscribers = Mutex<[UInt64: EventSubscription]>([:])
    private let nextSubscriber = Atomic<UInt64>(0)

    public init(database: HallDatabase) {
        self.database = database
    }

    @discardableResult
    public func publish(_ event: NewEvent) async throws -> HallEvent {
        try await database.appendEvent(event, time: Timestamp.string()) { [self] in fanOut($0) }
    }

    private func fanOut(_ event: HallEvent) {
        let behind = subscribers.withLock { subscribers in
            var behind: [EventSubscription] = []
            for (key, subscriber) in subscribers where !subscriber.offer(event) {
                subscribers[key] = nil
                behind.append(subscriber)
            }
            return behind
        }
        // Ending a stream runs its termination handler, which takes the lock: do it outside.
        behind.forEach { $0.cancel() }
    }

    /// Starts a live subscription holding at most `capacity` undelivered events.
    /// Register before reading the backlog, then skip what the backlog already gave.
    public func subscribe(types: Set<String>? = nil, capacity: Int = 256) -> EventSubscription {
        let key = nextSubscriber.add(1, ordering: .relaxed).newValue
        let subscription = EventSubscription(types: types, capacity: capacity) { [weak self] in
            _ = self?.subscribers.withLock { $0.removeValue(forKey: key) }
        }
        subscribers.withLock { $0[key] = subscription }
        return subscription
    }

    /// Offers every subscriber a keep-alive (sequence 0, never stored), so streams to
    /// clients that went away are noticed and closed.
    public func heartbeat() {
        fanOut(HallEvent(seq: 0, type: "heartbeat", time: Timestamp.string(), device: nil, data: .null))
    }

    /// Ends every live subscription (at shutdown, so streaming responses finish).
    public func closeAllSubscriptions() {
        let all = subscribers.withLock { subscribers in
            defer { subscribers = [:] }
            return Array(subscribers.values)
        }
        all.forEach { $0.cancel() }
    }

    public var subscriberCount: Int { subscribers.withLock { $0.count } }

    /// Stored events after `seq` of `types` (types or families, all when nil), oldest
    /// first, at most `limit`. The filter is in the query, so a page shorter than
    /// `limit` is the end of the log.
    public func events(after seq: Int64, limit: Int = 500, types: Set<String>? = nil) async throws -> [HallEvent] {
        var sql = "SELECT seq, type, device, time, data FROM event WHERE seq > ?"
        var arguments: StatementArguments = [seq]
        if let types {
            let sorted = types.sorted()
            // A type (keypad.rating) matches itself; a family (keypad) every type under it.
            let exact = sorted.map { _ in "?" }.joined(separator: ", ")
            let families = sorted.map { _ in "substr(type, 1, instr(type, '.') - 1) = ?" }.joined(separator: " OR ")
            sql += " AND (type IN (\(exact)) OR (instr(type, '.') > 0 AND (\(families))))"
            for t in sorted { _ = arguments.append(contentsOf: [t]) }
            for t in sorted { _ = arguments.append(contentsOf: [t]) }
        }
        sql += " ORDER BY seq LIMIT ?"
        _ = arguments.append(contentsOf: [limit])
        let (query, values) = (sql, arguments)
        return try await database.writer.read { db in
            try Row.fetchAll(db, sql: query, arguments: values).map { row in
                let data = (row["data"] as String?).flatMap { try? JSONDecoder().decode(JSONValue.self, from: Data($0.utf8)) } ?? .null
                return HallEvent(seq: row["seq"], type: row["type"], time: row["time"], device: (row["device"] as String?).flatMap(DeviceID.init), data: data)
            }
        }
    }

    /// The oldest sequence number still stored, or the next one to be given when the
    /// log is empty: a resume from before it has lost the events between.
    public func firstAvailable() async throws -> Int64 {
        try await database.writer.read { db in
            if let first = try Int64.fetchOne(db, sql: "SELECT MIN(seq) FROM event") { return first }
            return (try Int64.fetchOne(db, sql: "SELECT seq FROM sqlite_sequence WHERE name = 'event'") ?? 0) + 1
        }
    }

    /// The highest sequence number given so far (0 when none).
    public func lastSequence() async throws -> Int64 {
        try await database.writer.read { db in
            try Int64.fetchOne(db, sql: "SELECT seq FROM sqlite_sequence WHERE name = 'event'") ?? 0
        }
    }

    /// Deletes events older than `age`; sequence numbers go on from where they were.
    @discardableResult
    public func trim(olderThan age: Duration, now: Date = Date()) async throws -> Int {
        let cutoff = Timestamp.string(now.addingTimeInterval(-Double(age.components.seconds)))
        return try await database.deleteEvents(before: cutoff)
    }
}

/// One live subscriber. `events` ends when the subscriber is cancelled or falls
/// more than `capacity` events behind; `isLagged` tells which.
public final class EventSubscription: Sendable {
    public let events: AsyncStream<HallEvent>
    private let continuation: AsyncStream<HallEvent>.Continuation
    private let types: Set<String>?
    private let lagged = Atomic<Bool>(false)
    private let onEnd: @Sendable () -> Void

    init(types: Set<String>?, capacity: Int, onEnd: @escaping @Sendable () -> Void) {
        (events, continuation) = AsyncStream.makeStream(of: HallEvent.self, bufferingPolicy: .bufferingOldest(max(1, capacity)))
        self.types = types
        self.onEnd = onEnd
        continuation.onTermination = { _ in onEnd() }
    }

    public var isLagged: Bool { lagged.load(ordering: .acquiring) }

    /// Returns false when the subscriber is gone or just lagged.
    func offer(_ event: HallEvent) -> Bool {
        guard event.seq == 0 || Self.matches(event.type, types) else { return true }
        switch continuation.yield(event) {
        case .enqueued: return true
        case .dropped:
            lagged.store(true, ordering: .releasing)
            return false
        case .terminated: return false
        @unknown default: return false
        }
    }

    public func cancel() { continuation.finish() }

    /// `types` holds event types (`keypad.rating`) or families (`keypad`).
    static func matches(_ type: String, _ types: Set<String>?) -> Bool {
        guard let types else { return true }
        if types.contains(type) { return true }
        if let dot = type.firstIndex(of: ".") { return types.contains(String(type[..<dot])) }
        return false
    }
}
