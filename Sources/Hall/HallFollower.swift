import DeviceKit
import Foundation
import HallModel
import Logging
import Synchronization

/// Where a halld of a shared hall publishes the hall's events: the shared store,
/// whence every halld of the hall (this one too) follows them.
public struct SharedHallEvents: EventPublisher {
    let store: any SharedHallStore

    public init(store: any SharedHallStore) { self.store = store }

    @discardableResult
    public func publish(_ event: NewEvent) async throws -> HallEvent {
        try await store.appendEvent(event, time: Timestamp.string()) { _ in }
    }

    /// Whether the shared store is `hallStore` and stores a ticket with its event in one
    /// transaction (PostgreSQL does).
    func keepsTickets(of hallStore: any HallStore) -> Bool {
        store is any TicketEventStore && (store as AnyObject) === (hallStore as AnyObject)
    }

    /// A ticket and its event in one transaction of the shared store (ask `keepsTickets(of:)` first).
    public func issue(_ new: NewTicket, event: @escaping @Sendable (Ticket) throws -> NewEvent) async throws -> Ticket {
        guard let tickets = store as? any TicketEventStore else { preconditionFailure("SharedHallEvents.issue on a store that does not keep tickets") }
        return try await tickets.issueTicket(new, event: event, time: Timestamp.string()) { _ in }.0
    }
}

/// A publisher that can store a ticket and its event in one transaction of the hall's
/// store: when `keepsTickets(of:)` that store, the hall issues through `issue`.
protocol TicketIssuing: Sendable {
    func keepsTickets(of hallStore: any HallStore) -> Bool
    func issue(_ new: NewTicket, event: @escaping @Sendable (Ticket) throws -> NewEvent) async throws -> Ticket
}

extension EventLog: TicketIssuing {}
extension SharedHallEvents: TicketIssuing {}

/// Keeps one halld in its shared hall: joins it (the services checked, the windows
/// registered), loads the day, then follows the hall's events for good. Each event is
/// applied to this halld's hall when another halld published it, and stored in the
/// local event log once, with the hall sequence followed so far, so the local stream
/// carries the hall's events and this halld's devices' events together, resumable,
/// each once. When the store is lost it answers `unavailable` meanwhile, and the
/// follower reconnects with backoff and catches up from the last sequence it stored.
public final class HallFollower: Sendable {
    let store: any SharedHallStore
    let hall: Hall
    let log: EventLog
    let logger: Logger
    let backoff: [Duration]
    /// How often the store is asked for tickets this halld does not know: a ticket whose
    /// halld was killed between storing and announcing it shows within this time.
    let resync: Duration
    private let joined = Atomic<Bool>(false)
    /// Between a reconnection and the day loaded again: hall routes wait it out (503).
    private let loading = Atomic<Bool>(true)
    /// Hall events stored in the local log since start, and reconnections.
    private let counts = Mutex<(followed: Int, reconnects: Int)>((0, 0))

    public init(
        store: any SharedHallStore, hall: Hall, log: EventLog, logger: Logger,
        backoff: [Duration] = [.milliseconds(200), .milliseconds(500), .seconds(1), .seconds(2), .seconds(5)], resync: Duration = .seconds(30)
    ) {
        self.resync = resync
        self.store = store
        self.hall = hall
        self.log = log
        self.logger = logger
        self.backoff = backoff
        store.setOutage("joining hall '\(store.hall)'")
    }

    /// Why the hall cannot be served now (joining, or the store lost), or nil.
    public var unavailable: HallStoreError? {
        if let reason = store.currentOutage { return .unavailable(store: "\(store)", reason: reason) }
        if !joined.load(ordering: .acquiring) { return .unavailable(store: "\(store)", reason: "joining hall '\(store.hall)'") }
        return loading.load(ordering: .acquiring) ? .unavailable(store: "\(store)", reason: "loading the day again after reconnecting") : nil
    }

    public var followedCount: Int { counts.withLock { $0.followed } }
    public var reconnectCount: Int { counts.withLock { $0.reconnects } }

    /// Runs until cancelled. Throws only when this halld cannot be in the hall at all
    /// (`HallMembershipError`: other services, a newer schema): halld stops then.
    ///
    /// On every (re)connection it joins again, reads the hall's last event sequence
    /// and loads the day from the store, so a change whose event was lost with the
    /// connection is not missed; events up to that sequence are stored locally but not
    /// applied again (the load has them, or something newer).
    public func run() async throws {
        var failures = 0
        var lost = false
        while !Task.isCancelled {
            do {
                loading.store(true, ordering: .releasing)
                let last = try await store.join(services: hall.setup.services, windows: hall.setup.windows)
                store.setOutage(nil)
                try await hall.load(through: last)
                loading.store(false, ordering: .releasing)
                let after: Int64
                if joined.load(ordering: .acquiring) {
                    after = try await log.followedSequence(hall: store.hall) ?? last
                } else {
                    after = try await log.startFollowing(hall: store.hall, after: last)
                    joined.store(true, ordering: .releasing)
                    // The hallds already in the hall learn this one's windows.
                    await hall.announceWindows()
                    logger.notice("joined hall '\(store.hall)' in \(store) at event \(last); following after \(after)")
                }
                if lost {
                    lost = false
                    logger.notice("hall store \(store) is back; catching up after event \(after)")
                }
                let resyncing = Task { [store, hall, resync, logger] in
                    while (try? await Task.sleep(for: resync)) != nil {
                        do {
                            try await hall.addUnannounced()
                        } catch {
                            logger.warning("loading the day again from \(store) failed: \(error)")
                        }
                    }
                }
                defer { resyncing.cancel() }
                for try await shared in store.follow(after: after) {
                    failures = 0
                    if shared.origin != store.origin { await hall.applyRemote(shared.event) }
                    if try await log.publishFollowed(shared.event, hall: store.hall) != nil { counts.withLock { $0.followed += 1 } }
                }
                if Task.isCancelled { return }
            } catch let error as HallMembershipError {
                throw error
            } catch {
                if Task.isCancelled { return }
                if !lost {
                    logger.error("hall store \(store) lost: \(error); hall routes answer 503 until it is back")
                    lost = true
                }
                if store.currentOutage == nil { store.setOutage("\(error)") }
            }
            counts.withLock { $0.reconnects += 1 }
            let delay = backoff[min(failures, backoff.count - 1)]
            failures += 1
            do { try await Task.sleep(for: delay) } catch { return }
        }
    }
}
