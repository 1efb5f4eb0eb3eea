import DeviceKit
import Foundation
import HallModel
import Synchronization

/// The event log: every event is stored with the next sequence number, then handed
/// to the live subscribers, in sequence order. Subscribers that fall behind are
/// cut off (`isLagged`) instead of growing the daemon's memory.
public final class EventLog: EventPublisher, Sendable {
    private let store: any EventStore
    private let subscribers = Mutex(Subscribers())
    private let nextSubscriber = Atomic<UInt64>(0)
    /// Every stream was ended (halld is stopping): later subscriptions end at once.
    private let closed = Atomic<Bool>(false)

    /// The store as a hall store that issues a ticket and its event in one transaction,
    /// when it is one (found once: the casts cost a fortieth of an issue).
    private let ticketStore: (any TicketEventStore)?

    public init(store: any EventStore) {
        self.store = store
        self.ticketStore = store as? any TicketEventStore
    }

    /// Whether this log is kept in `hallStore` itself, so that `issue` stores a ticket
    /// and its event in one transaction.
    public func keepsTickets(of hallStore: any HallStore) -> Bool {
        guard let ticketStore else { return false }
        return (ticketStore as AnyObject) === (hallStore as AnyObject)
    }

    @discardableResult
    public func publish(_ event: NewEvent) async throws -> HallEvent {
        try await store.appendEvent(event, time: Timestamp.string()) { [self] in fanOut($0) }
    }

    /// Stores an event of the shared hall this halld follows, with a local sequence
    /// number, and hands it to the subscribers; nil when it was stored already (an
    /// event is in this log once, however often it is followed).
    /// Issues a ticket and appends its event in one transaction, when the hall's store
    /// keeps this log (a single PC's SQLite); nil otherwise (the caller issues, then publishes).
    public func issue(_ new: NewTicket, in hallStore: any HallStore, event: @escaping @Sendable (Ticket) throws -> NewEvent) async throws -> Ticket? {
        guard keepsTickets(of: hallStore) else { return nil }
        return try await issue(new, event: event)
    }

    /// `issue(_:in:event:)` for a caller that asked `keepsTickets(of:)` already.
    public func issue(_ new: NewTicket, event: @escaping @Sendable (Ticket) throws -> NewEvent) async throws -> Ticket {
        guard let ticketStore else { preconditionFailure("EventLog.issue without a store that keeps tickets (ask keepsTickets(of:) first)") }
        return try await ticketStore.issueTicket(new, event: event, time: Timestamp.string()) { [self] in fanOut($0) }.0
    }

    @discardableResult
    public func publishFollowed(_ event: HallEvent, hall: String) async throws -> HallEvent? {
        try await followed().appendFollowed(event, hall: hall) { [self] in fanOut($0) }
    }

    /// Hands `event` to every subscriber. Those that read on a delivery queue (their
    /// connection's event loop) get it in one hop to that queue for all of them, where
    /// each is offered it: written straight to its connection when it can be
    /// (`EventDirectWriter`), otherwise into its stream. A queue runs what it is given in
    /// order, so each subscriber still gets the events in sequence order.
    private func fanOut(_ event: HallEvent) {
        // The queues' groups are taken as they are (a copy that shares their storage),
        // so an event costs no allocation per subscriber.
        let (behind, queued) = subscribers.withLock { subscribers in
            var behind: [EventSubscription] = []
            for (key, subscriber) in subscribers.plain where !subscriber.offer(event) {
                subscribers.plain[key] = nil
                behind.append(subscriber)
            }
            return (behind, subscribers.queued)
        }
        // Ending a stream runs its termination handler, which takes the lock: do it outside.
        behind.forEach { $0.cancel() }
        for (id, group) in queued {
            group.queue.deliver { [self] in
                // What the first direct writer makes of the event (its bytes) serves the others.
                let delivery = EventDelivery(event)
                for (key, subscriber) in group.members where !subscriber.offer(delivery) {
                    _ = subscribers.withLock { $0.remove(key, queue: id) }
                    subscriber.cancel()
                }
            }
        }
    }

    /// Starts a live subscription holding at most `capacity` undelivered events.
    /// Register before reading the backlog, then skip what the backlog already gave.
    /// With `direct`, events are offered on `direct.queue` and written straight to the
    /// subscriber's connection whenever nothing is waiting in its stream
    /// (`EventDirectWriter`).
    public func subscribe(types: Set<String>? = nil, capacity: Int = 256, direct: (any EventDirectWriter)? = nil) -> EventSubscription {
        let key = nextSubscriber.add(1, ordering: .relaxed).newValue
        let queue = direct.map { ObjectIdentifier($0.queue) }
        let subscription = EventSubscription(types: types, capacity: capacity, direct: direct) { [weak self] in
            _ = self?.subscribers.withLock { $0.remove(key, queue: queue) }
        }
        subscribers.withLock { $0.insert(subscription, key: key) }
        // A client that subscribes while halld stops (a WebSocket still upgrading when every
        // stream was ended) is ended too: otherwise its connection keeps the server open.
        if closed.load(ordering: .acquiring) { subscription.cancel() }
        return subscription
    }

    /// Where the local log is in following `hall` (nil: never followed).
    public func followedSequence(hall: String) async throws -> Int64? {
        try await followed().followedSequence(hall: hall)
    }

    /// Starts following `hall` after `seq` unless this log followed it before.
    public func startFollowing(hall: String, after seq: Int64) async throws -> Int64 {
        try await followed().startFollowing(hall: hall, after: seq)
    }

    private func followed() throws -> any FollowedEventStore {
        guard let followed = store as? any FollowedEventStore else {
            throw HallStoreError.unavailable(store: "the local event log", reason: "it cannot follow a shared hall")
        }
        return followed
    }

    /// Offers every subscriber a keep-alive (sequence 0, never stored), so streams to
    /// clients that went away are noticed and closed.
    public func heartbeat() {
        fanOut(HallEvent(seq: 0, type: "heartbeat", time: Timestamp.string(), device: nil, data: .null))
    }

    /// Ends every live subscription (at shutdown, so streaming responses finish).
    public func closeAllSubscriptions() {
        closed.store(true, ordering: .releasing)
        let all = subscribers.withLock { subscribers in
            defer { subscribers = Subscribers() }
            return subscribers.all
        }
        all.forEach { $0.cancel() }
    }

    public var subscriberCount: Int { subscribers.withLock { $0.count } }

    /// The live subscribers: those offered each event on the thread that stored it, and,
    /// by delivery queue, those offered it on their queue (one hop per queue and event).
    struct Subscribers {
        struct Group {
            let queue: any EventDeliveryQueue
            var members: [UInt64: EventSubscription] = [:]
        }
        var plain: [UInt64: EventSubscription] = [:]
        var queued: [ObjectIdentifier: Group] = [:]

        var all: [EventSubscription] { Array(plain.values) + queued.values.flatMap(\.members.values) }
        var count: Int { queued.values.reduce(plain.count) { $0 + $1.members.count } }

        mutating func insert(_ subscription: EventSubscription, key: UInt64) {
            guard let queue = subscription.queue else {
                plain[key] = subscription
                return
            }
            queued[ObjectIdentifier(queue), default: Group(queue: queue)].members[key] = subscription
        }

        /// Removes a subscriber (nothing when it is gone already); a queue left without
        /// subscribers is dropped.
        mutating func remove(_ key: UInt64, queue id: ObjectIdentifier?) -> EventSubscription? {
            guard let id else { return plain.removeValue(forKey: key) }
            let removed = queued[id]?.members.removeValue(forKey: key)
            if queued[id]?.members.isEmpty == true { queued[id] = nil }
            return removed
        }
    }

    /// Stored events after `seq` of `types` (types or families, all when nil), oldest
    /// first, at most `limit`.
    public func events(after seq: Int64, limit: Int = 500, types: Set<String>? = nil) async throws -> [HallEvent] {
        try await store.events(after: seq, limit: limit, types: types)
    }

    /// The oldest sequence number still stored, or the next one to be given when the
    /// log is empty: a resume from before it has lost the events between.
    public func firstAvailable() async throws -> Int64 { try await store.firstEventSequence() }

    /// The highest sequence number given so far (0 when none).
    public func lastSequence() async throws -> Int64 { try await store.lastEventSequence() }

    /// Deletes events older than `age`; sequence numbers go on from where they were.
    @discardableResult
    public func trim(olderThan age: Duration, now: Date = Date()) async throws -> Int {
        let cutoff = Timestamp.string(now.addingTimeInterval(-Double(age.components.seconds)))
        return try await store.deleteEvents(before: cutoff)
    }
}

/// One live subscriber. `events` ends when the subscriber is cancelled or falls
/// more than `capacity` events behind; `isLagged` tells which.
public final class EventSubscription: Sendable {
    public let events: AsyncStream<HallEvent>
    private let continuation: AsyncStream<HallEvent>.Continuation
    private let types: Set<String>?
    /// Writes events straight to the subscriber's connection, on its queue (nil: every
    /// event goes into `events`, on the thread that stored it).
    let direct: (any EventDirectWriter)?
    var queue: (any EventDeliveryQueue)? { direct?.queue }
    private let lagged = Atomic<Bool>(false)
    private let ended = Atomic<Bool>(false)
    /// Events put into `events` that its reader has not finished with (`handled()`):
    /// while there are any, a direct write would overtake them. Counted only with a
    /// direct writer.
    private let unread = Atomic<Int>(0)
    private let onEnd: @Sendable () -> Void

    init(types: Set<String>?, capacity: Int, direct: (any EventDirectWriter)? = nil, onEnd: @escaping @Sendable () -> Void) {
        (events, continuation) = AsyncStream.makeStream(of: HallEvent.self, bufferingPolicy: .bufferingOldest(max(1, capacity)))
        self.types = types
        self.direct = direct
        self.onEnd = onEnd
        continuation.onTermination = { _ in onEnd() }
    }

    public var isLagged: Bool { lagged.load(ordering: .acquiring) }

    /// The reader of `events` is done with one event it took (written or skipped).
    /// A subscription with a direct writer needs it for every event, on the writer's queue.
    public func handled() { unread.subtract(1, ordering: .relaxed) }

    /// Returns false when the subscriber is gone or just lagged.
    func offer(_ event: HallEvent) -> Bool { offer(event, nil) }

    /// `offer(_:)` on the subscriber's delivery queue, with what another subscriber's
    /// writer made of the event.
    func offer(_ delivery: EventDelivery) -> Bool { offer(delivery.event, delivery) }

    private func offer(_ event: HallEvent, _ delivery: EventDelivery?) -> Bool {
        guard event.seq == 0 || Self.matches(event.type, types) else { return true }
        if let direct, unread.load(ordering: .relaxed) == 0, !ended.load(ordering: .acquiring), direct.write(delivery ?? EventDelivery(event)) { return true }
        switch continuation.yield(event) {
        case .enqueued:
            if direct != nil { unread.add(1, ordering: .relaxed) }
            return true
        case .dropped:
            lagged.store(true, ordering: .releasing)
            return false
        case .terminated: return false
        @unknown default: return false
        }
    }

    public func cancel() {
        ended.store(true, ordering: .releasing)
        continuation.finish()
    }

    /// Whether an event of `type` is one of `types` (a type, or a family before the dot; all when nil).
    public static func matches(_ type: String, _ types: Set<String>?) -> Bool {
        guard let types else { return true }
        if types.contains(type) { return true }
        if let dot = type.firstIndex(of: ".") { return types.contains(String(type[..<dot])) }
        return false
    }
}

/// A serial queue a subscriber's events are handed to: what it is given runs in the
/// order given, on the thread the subscriber's reader runs on (its connection's event
/// loop).
public protocol EventDeliveryQueue: AnyObject, Sendable {
    func deliver(_ work: @escaping @Sendable () -> Void)
}

/// Writes a subscriber's events straight to its connection, on `queue`: one write
/// instead of waking the reader's task for each event (an event loop's work for 100
/// subscribers). The subscription calls it only while nothing waits in its stream, so
/// what it writes never overtakes what the reader still has to write; when it cannot
/// write (the connection is not writable, or the reader is not reading live events
/// yet), it returns false and the event goes into the stream.
public protocol EventDirectWriter: Sendable {
    var queue: any EventDeliveryQueue { get }
    /// Called on `queue`: true when the event is written (or need not be).
    func write(_ delivery: EventDelivery) -> Bool
}

/// One event on its way to the subscribers of one delivery queue, offered to each in
/// turn on that queue: the first direct writer keeps what it makes of the event (its
/// bytes on the wire) in `encoding`, and the others write the same, so an event is
/// encoded once per queue, not once per subscriber. Used on the queue only.
public final class EventDelivery {
    public let event: HallEvent
    public var encoding: AnyObject?

    init(_ event: HallEvent) { self.event = event }
}
