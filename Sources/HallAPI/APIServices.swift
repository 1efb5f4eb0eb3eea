import DeviceKit
import Foundation
import HallAPIModels
import Hall
import Jobs
import Speech

/// What the routes work with. One value, built by the daemon (or a test) and
/// handed to `buildRouter`.
public struct APIServices: Sendable {
    public struct DaemonInfo: Sendable {
        public var version: String
        public var socket: String
        public var stateDir: String
        public var startedAt: Date

        public init(version: String, socket: String, stateDir: String, startedAt: Date = Date()) {
            self.version = version
            self.socket = socket
            self.stateDir = stateDir
            self.startedAt = startedAt
        }
    }

    public var registry: DeviceRegistry
    public var events: EventLog
    public var jobs: JobBoard
    public var roles: RoleMap
    public var info: DaemonInfo
    /// Undelivered events a subscriber may have before it gets `lagged`.
    public var subscriberBuffer: Int
    /// Who the caller is. The daemon reads `SO_PEERCRED`; tests may craft an identity.
    public var identify: @Sendable (HallRequestContext) async -> PeerIdentity?
    /// How each ESC/POS printer renders `{"ticket": …}` jobs, with the hall's name.
    public var tickets = TicketPrinting()
    /// The browser bridge's tokens and rules, when `[bridge]` is on.
    public var bridge: BridgeGate?
    /// Clerk workstations: a Unix user's id → the staff id it signs in as (`[hall.workstations]`).
    public var workstationStaff: [UInt32: String] = [:]
    /// Each speaker's announcement queue.
    public var announcers: [DeviceID: Announcer] = [:]
    /// The hall (queue, windows, ratings), when configured.
    public var hall: Hall?
    /// Why the hall cannot be served now (a shared store lost or being joined): hall
    /// routes answer 503 `hallStoreUnavailable` with it.
    public var hallUnavailable: (@Sendable () -> HallStoreError?)?
    /// The role of connections over TCP (`api.tcp`), which carry no peer credentials.
    public var tcpRole: Role = .kiosk
    /// Prometheus metrics (`GET /metrics`).
    public var metrics = HallMetrics()
    /// Interactive health checks waiting for a person.
    public var interactiveChecks = InteractiveChecks()

    public init(
        registry: DeviceRegistry, events: EventLog, jobs: JobBoard, roles: RoleMap, info: DaemonInfo, subscriberBuffer: Int = 256,
        identify: @escaping @Sendable (HallRequestContext) async -> PeerIdentity? = { PeerIdentity.of($0.channel) }
    ) {
        self.registry = registry
        self.events = events
        self.jobs = jobs
        self.roles = roles
        self.info = info
        self.subscriberBuffer = subscriberBuffer
        self.identify = identify
    }
}
