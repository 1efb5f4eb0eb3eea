import DeviceKit
import Drivers
import Foundation
import HallConfiguration
import SQLiteStore
import PostgresStore
import Transports
import Hall
import HallAPI
import HallAPIModels
import Jobs
import WireProtocols
import Hummingbird
import Logging
import ServiceLifecycle
import Synchronization

/// The running daemon: database, event log, devices, jobs and the API on the
/// Unix socket, as one service group that stops in reverse order on SIGTERM or SIGINT.
public struct Daemon: Sendable {
    public static let version = HalldVersion.current

    public let config: HallConfig
    public let logger: Logger
    /// systemd's notify protocol (READY, STATUS, WATCHDOG, STOPPING) when started by systemd.
    public let notifier: SystemdNotifier

    /// The process environment: NOTIFY_SOCKET, WATCHDOG_USEC, LISTEN_FDS, LISTEN_PID.
    let environment: [String: String]
    /// Called with the TCP listener's port once it listens (port 0 in `api.tcp` picks one).
    public var onTCPListening: @Sendable (Int) -> Void = { _ in }
    /// Called with the browser bridge's port once it listens (port 0 in `bridge.listen` picks one).
    public var onBridgeListening: @Sendable (Int) -> Void = { _ in }
    /// Replaces the watchdog's probe of that name (`registry`, `hall`, `database`):
    /// how a test stands in for a part that stops answering.
    public var probeOverrides: [String: LivenessProbe] = [:]

    public init(config: HallConfig, logger: Logger, environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.config = config
        self.logger = logger
        self.environment = environment
        self.notifier = SystemdNotifier(environment: environment)
    }

    /// Stops a running daemon as SIGTERM does: given to `onReady`.
    public final class Handle: Sendable {
        private let group = Mutex<ServiceGroup?>(nil)
        func attach(_ g: ServiceGroup) { group.withLock { $0 = g } }
        public func shutdown() async { await group.withLock { $0 }?.triggerGracefulShutdown() }
    }

    /// Runs until SIGTERM/SIGINT (or `Handle.shutdown()`), then removes the socket
    /// file and closes the database. `onReady` runs once the socket answers and every
    /// device has been tried once.
    public func run(onReady: @escaping @Sendable (Handle) -> Void = { _ in }) async throws {
        // A library's destructor can wait forever at exit on a lock a cancelled thread
        // left held (SANE, CUPS): halld's process ends without them.
        ExitWithoutDestructors.register()
        let handle = Handle()
        let database = try HallDatabase.open(directory: config.stateDir)
        defer {
            do { try database.close() } catch { logger.error("database did not close cleanly: \(error)") }
        }
        if let skipped = database.eventNumbersSkipped {
            logger.notice(
                "the machine restarted without halld closing its database: device events numbered \(skipped.lowerBound)…\(skipped.upperBound) may have gone with it (they are not synced one by one); those numbers are not given again, the event log goes on from \(skipped.upperBound + 1)")
        }
        let events = EventLog(store: database)
        let trimmed = try await events.trim(olderThan: .seconds(config.eventRetentionDays * 86_400))
        if trimmed > 0 { logger.info("trimmed \(trimmed) events older than \(config.eventRetentionDays) days") }

        let wantedUSB = config.devices.compactMap { d in d.sane?.usb.map { USBPresence.Wanted(device: d.id, usb: $0, serialNumber: d.sane?.usbSerial) } }
        let bus: (any USBEnumeration)? = wantedUSB.isEmpty ? nil : LibUSBBus()
        let voices = try Speakers.voices(config.devices, logger: logger)
        let devices = DeviceFactory.make(config.devices, bus: bus, voices: voices)
        let registry = DeviceRegistry(devices: devices, events: events, counters: database, retry: config.retry, logger: logger)
        let announcers = Speakers.announcers(config.devices, voices: voices, registry: registry, events: events, logger: logger)
        let spool = ScanSpool(directory: (config.stateDir as NSString).appendingPathComponent("spool"))
        let jobs = JobBoard(
            registry: registry, events: events, spool: spool, logger: logger, database: database, spoolRetention: .seconds(config.spoolRetentionHours * 3600))
        let roles = makeRoleMap()

        var services = APIServices(
            registry: registry, events: events, jobs: jobs, roles: roles,
            info: .init(version: Self.version, socket: config.socket, stateDir: config.stateDir),
            subscriberBuffer: config.subscriberBuffer)
        services.announcers = announcers
        for (user, staffId) in config.workstations {
            if let pw = getpwnam(user) {
                services.workstationStaff[pw.pointee.pw_uid] = staffId
            } else {
                logger.warning("hall.workstations: user '\(user)' does not exist on this system")
            }
        }
        for device in config.devices { if let layout = device.ticketLayout { services.tickets.layouts[device.id] = layout } }
        var hall: Hall?
        var follower: HallFollower?
        var shared: PostgresHallStore?
        var resyncEvery: Duration = .seconds(30)
        defer { shared?.close() }
        if let setup = config.hall {
            services.tickets.hallName = setup.name
            services.tickets.timeZone = setup.timeZone
            let tickets = services.tickets
            let store: any HallStore
            let hallEvents: any EventPublisher
            switch config.hallStore {
            case .sqlite:
                (store, hallEvents) = (database, events)
            case .postgresql(let url, let id, let passwordFile, let resync):
                resyncEvery = .seconds(resync)
                let pg = try PostgresHallStore(
                    url: url, password: try Self.storePassword(file: passwordFile, environment: environment), hall: id, origin: origin, logger: logger)
                shared = pg
                (store, hallEvents) = (pg, SharedHallEvents(store: pg))
            }
            let h = Hall(
                setup: setup, store: store, registry: registry, events: hallEvents, logger: logger,
                printTicket: { ticket, printer in
                    try await Self.printTicket(ticket, on: printer, setup: setup, registry: registry, jobs: jobs, tickets: tickets)
                }, announce: Speakers.announce(announcers),
                printNotice: { notice, printer in
                    // 一次性告知 goes as UTF-8 text: an A4 queue's filters (texttopdf with a CJK
                    // font) lay it out; a ticket printer prints it as ESC/POS text.
                    guard let device = await registry.device(printer) as? any Printer else { throw DeviceError(.notFound, "no printer \(printer)") }
                    let document = PrintDocument(format: "text", data: Data(notice.text.utf8), title: "一次性告知 \(notice.number) \(notice.service)")
                    return try await jobs.submitPrint(device, document: document).id
                })
            if let shared {
                // A halld whose services are not the hall's does not start. A store that
                // cannot be reached now is not a reason to stop: devices are served, and
                // the follower joins when it answers.
                do {
                    try await shared.join(services: setup.services, windows: setup.windows)
                } catch let error as HallMembershipError {
                    throw error
                } catch {
                    logger.error("hall store \(shared) cannot be reached at start: \(error); hall routes answer 503 until it can")
                }
                // Joined, loaded and followed by the follower: hall routes answer 503 until then.
                let f = HallFollower(store: shared, hall: h, log: events, logger: logger, resync: resyncEvery)
                follower = f
                services.hallUnavailable = { f.unavailable }
            } else {
                try await h.load()
            }
            hall = h
            services.hall = h
        }
        services.tcpRole = config.tcpRole
        if let bridge = config.bridge {
            services.bridge = try BridgeGate(stateDir: config.stateDir, ratePerMinute: bridge.ratePerMinute)
        }
        services.interactiveChecks = InteractiveChecks(timeout: config.interactiveCheckTimeout)
        // systemd socket activation (halld.socket): the socket is systemd's; otherwise
        // halld binds its own, after making sure no other halld answers there.
        let inherited = try SystemdSockets.inheritedUnixListener(environment: environment)
        let address: ListenAddress
        if let inherited {
            address = .inherited(descriptor: inherited.fd, name: inherited.name)
        } else {
            try SocketFile.prepare(config.socket)
            address = .unixSocket(path: config.socket)
        }
        defer { if inherited == nil { SocketFile.remove(config.socket) } }

        let (socket, group, logger, notifier) = (config.socket, config.socketGroup, logger, notifier)
        let router = buildRouter(services)
        let serverName = "halld/\(Self.version)"
        let api = APIServer(
            address: address, router: router, limits: config.limits, serverName: serverName, logger: logger,
            onRunning: { _ in
                let permissions = inherited == nil ? SocketFile.restrict(socket, group: group) : "mode and group set by systemd"
                await registry.waitUntilAllAttempted()
                logger.notice("halld \(Self.version) listening on \(address) (\(permissions)), \(registry.ids.count) devices")
                _ = try? await events.publish(NewEvent(type: EventType.daemonStarted, data: ["version": .string(Self.version), "pid": .number(Double(getpid()))]))
                let snapshots = await registry.snapshots()
                let online = snapshots.filter { $0.status.state == .online }.count
                notifier.notify("READY=1\nSTATUS=listening on \(address); \(online) of \(snapshots.count) devices online\nMAINPID=\(getpid())")
                onReady(handle)
            })
        var listeners: [ServiceGroupConfiguration.ServiceConfiguration] = [.init(service: api)]
        if let tcp = config.tcp {
            let (onTCP, tcpRole) = (self.onTCPListening, config.tcpRole)
            listeners.append(
                .init(
                    service: APIServer(
                        address: .tcp(host: tcp.host, port: tcp.port), router: router, limits: config.limits, serverName: serverName, logger: logger,
                        onRunning: { channel in
                            logger.notice("API also on TCP \(tcp.host):\(APIServer.port(of: channel) ?? tcp.port), role \(tcpRole.rawValue)")
                            onTCP(APIServer.port(of: channel) ?? tcp.port)
                        })))
        }

        if let bridge = config.bridge, let gate = services.bridge {
            let onBridge = self.onBridgeListening
            listeners.append(
                .init(
                    service: APIServer(
                        address: .tcp(host: bridge.host, port: bridge.port), router: router, limits: config.limits, serverName: serverName, logger: logger,
                        webSockets: bridgeWebSockets(services, routes: router),
                        onRunning: { channel in
                            let port = APIServer.port(of: channel) ?? bridge.port
                            gate.listening(on: port)
                            logger.notice("browser bridge on \(bridge.host):\(port), \(gate.list().count) tokens")
                            onBridge(port)
                        })))
        }

        let serviceGroup = ServiceGroup(
            configuration: .init(
                services: [
                    .init(service: RegistryService(registry: registry)),
                    .init(service: JobService(jobs: jobs)),
                    .init(service: AnnouncerService(announcers: Array(announcers.values))),
                ] + (hall.map { [.init(service: CallerKeyService(hall: $0, events: events)), .init(service: FollowUpService(hall: $0, logger: logger))] } ?? [])
                    + (follower.map { [.init(service: FollowerService(follower: $0), successTerminationBehavior: .gracefullyShutdownGroup, failureTerminationBehavior: .gracefullyShutdownGroup)] } ?? []) + (bus.map { [.init(service: USBHotplugService(bus: $0, wanted: wantedUSB, registry: registry, logger: logger))] } ?? []) + [
                ] + listeners + [
                    .init(service: NotifyService(notifier: notifier, registry: registry, probes: livenessProbes(registry: registry, hall: hall, database: database), logger: logger)),
                    .init(
                        service: HeartbeatService(
                            events: events, interval: .milliseconds(Int(config.heartbeatSeconds * 1000)),
                            retention: .seconds(config.eventRetentionDays * 86_400), logger: logger)),
                ],
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger))
        handle.attach(serviceGroup)
        try await serviceGroup.run()
        notifier.notify("STATUS=stopped")
        logger.notice("halld stopped")
    }

    /// This halld's id in a shared hall: its host and socket, the same after a restart.
    var origin: String { "\(ProcessInfo.processInfo.hostName):\(config.socket)" }

    /// The shared store's password: `store_password_file` (its first line), else
    /// `HALLD_STORE_PASSWORD`, else none (trust or peer authentication).
    static func storePassword(file: String?, environment: [String: String]) throws -> String? {
        if let file {
            do {
                let text = try String(contentsOfFile: file, encoding: .utf8)
                return text.split(separator: "\n", omittingEmptySubsequences: false).first.map(String.init) ?? ""
            } catch {
                throw ConfigError(file: file, key: "hall.store_password_file", message: "cannot read the store's password: \(error.localizedDescription)")
            }
        }
        return environment["HALLD_STORE_PASSWORD"]
    }

    private func makeRoleMap() -> RoleMap {
        func resolve(_ names: [String], _ role: String) -> Set<UInt32> {
            let (ids, unknown) = RoleMap.resolve(names)
            for name in unknown { logger.warning("roles.\(role): group '\(name)' does not exist on this system") }
            return ids
        }
        return RoleMap(
            technicianGroups: resolve(config.roles.technician, "technician"), clerkGroups: resolve(config.roles.clerk, "clerk"),
            kioskGroups: resolve(config.roles.kiosk, "kiosk"), districtGroups: resolve(config.roles.district, "district"),
            managerGroups: resolve(config.roles.manager, "manager"))
    }
}

extension Daemon {
    /// What must answer before each WATCHDOG=1: the device registry, the hall (when
    /// there is one) and a read of the database.
    func livenessProbes(registry: DeviceRegistry, hall: Hall?, database: HallDatabase) -> [LivenessProbe] {
        var probes = [
            LivenessProbe("registry") { _ = await registry.snapshots() },
            LivenessProbe("database") { _ = try await database.integrityCheckQuick() },
        ]
        if let hall { probes.insert(LivenessProbe("hall") { _ = await hall.waitingCounts() }, at: 1) }
        return probes.map { probeOverrides[$0.name] ?? $0 }
    }
}

/// Supervises the devices until graceful shutdown, then closes them.
extension Daemon {
    /// A kiosk ticket on the kiosk's printer, rendered with its layout as the print
    /// route renders tickets: the service by its name (社会保障), not its code.
    /// Returns the print job's id.
    static func printTicket(
        _ t: Ticket, on printer: DeviceID, setup: HallSetup, registry: DeviceRegistry, jobs: JobBoard, tickets: TicketPrinting
    ) async throws -> String {
        guard let device = await registry.device(printer) as? any Printer else { throw DeviceError(.notFound, "no printer \(printer)") }
        let job = try await jobs.submitPrint(device, document: try tickets.document(ticketContent(t, setup: setup), for: printer))
        return job.id
    }

    /// What a kiosk ticket says. Its QR code carries `rating_url` with the ticket's id
    /// (scan to rate from a phone) when the hall has one, else the ticket's id.
    static func ticketContent(_ t: Ticket, setup: HallSetup) -> TicketContent {
        let serviceName = setup.services.first { $0.code == t.service }?.name ?? t.service
        return TicketContent(
            number: t.number, service: serviceName, hall: setup.name, waitingAhead: t.waitingAhead,
            time: TicketRendering.localTime(t.issuedAt, timeZone: setup.timeZone),
            id: setup.ratingURL.map { $0.replacingOccurrences(of: "{ticket}", with: t.id) } ?? t.id)
    }
}

/// Caller keys on a window's keypad (hall-bus callers: call, recall) drive the
/// hall as the clerk program would.
/// Keeps this halld in its shared hall (`HallFollower`). A halld that cannot be in
/// the hall at all (other services) stops the daemon with the reason.
struct FollowerService: Service {
    let follower: HallFollower
    func run() async throws {
        try await cancelWhenGracefulShutdown { try await follower.run() }
    }
}

/// Every minute: announces bad ratings' follow-ups past their deadline (`follow-up.overdue`),
/// services left without a window (`service.unstaffed`, 服务双岗), tickets past their
/// service's promised times (`ticket.overdue`), and marks appointments never checked in
/// as no-shows (`appointment.noShow`).
struct FollowUpService: Service {
    let hall: Hall
    let logger: Logger
    func run() async throws {
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                do { try await hall.announceOverdueFollowUps() } catch { logger.warning("overdue follow-ups not checked: \(error)") }
                await hall.checkStaffing()
                do { try await hall.announceOverdueTickets() } catch { logger.warning("tickets' time limits not checked: \(error)") }
                do { try await hall.markNoShowAppointments() } catch { logger.warning("appointments not checked for no-shows: \(error)") }
                try await Task.sleep(for: .seconds(60))
            }
        }
    }
}

struct CallerKeyService: Service {
    let hall: Hall
    let events: EventLog
    func run() async throws {
        let subscription = events.subscribe(types: [EventType.keypadKey], capacity: 64)
        await withDiscardingTaskGroup { group in
            group.addTask {
                for await event in subscription.events {
                    guard let device = event.device, case .string(let key)? = event.data["key"] else { continue }
                    await hall.key(key, on: device)
                }
            }
            // The stream may end first (the heartbeat ends every subscription at
            // shutdown); the service ends with its own graceful shutdown.
            try? await gracefulShutdown()
            subscription.cancel()
        }
    }
}

/// Keeps systemd informed: WATCHDOG=1 at half of WATCHDOG_USEC, a STATUS= line
/// when device counts change, and STOPPING=1 when the graceful shutdown starts.
struct NotifyService: Service {
    let notifier: SystemdNotifier
    let registry: DeviceRegistry
    let probes: [LivenessProbe]
    let logger: Logger

    func run() async throws {
        guard notifier.socketPath != nil else {
            try? await gracefulShutdown()
            return
        }
        await withDiscardingTaskGroup { group in
            group.addTask { await notifier.watchdogLoop(probes: probes, logger: logger) }
            group.addTask {
                var last = ""
                while !Task.isCancelled {
                    let s = await registry.snapshots()
                    let problems = s.filter { !$0.status.state.acceptsWork }.map { "\($0.id) \($0.status.state.rawValue)" }
                    let status = "STATUS=\(s.count - problems.count) of \(s.count) devices online" + (problems.isEmpty ? "" : "; " + problems.joined(separator: ", "))
                    if status != last {
                        notifier.notify(status)
                        last = status
                    }
                    do { try await Task.sleep(for: .seconds(2)) } catch { return }
                }
            }
            try? await gracefulShutdown()
            notifier.notify("STOPPING=1\nSTATUS=stopping")
            group.cancelAll()
        }
    }
}

struct RegistryService: Service {
    let registry: DeviceRegistry
    func run() async throws {
        await cancelWhenGracefulShutdown { await registry.run() }
    }
}

/// Runs jobs until graceful shutdown; jobs still running are canceled.
struct JobService: Service {
    let jobs: JobBoard
    func run() async throws {
        await cancelWhenGracefulShutdown { await jobs.run() }
    }
}

/// Sends event-stream keep-alives and trims old events once an hour. It is the
/// first service stopped: it announces `daemon.stopping` and ends every stream
/// (after its buffered events) so the server can stop.
struct HeartbeatService: Service {
    let events: EventLog
    let interval: Duration
    let retention: Duration
    let logger: Logger
    func run() async throws {
        try? await cancelWhenGracefulShutdown {
            var sinceTrim = Duration.zero
            while !Task.isCancelled {
                try await Task.sleep(for: interval)
                events.heartbeat()
                sinceTrim += interval
                if sinceTrim >= .seconds(3600) {
                    sinceTrim = .zero
                    do { try await events.trim(olderThan: retention) } catch { logger.error("trimming events failed: \(error)") }
                }
            }
        }
        _ = try? await events.publish(NewEvent(type: EventType.daemonStopping, data: ["pid": .number(Double(getpid()))]))
        events.closeAllSubscriptions()
    }
}
