import Foundation
import Logging
import Synchronization

/// Opens the configured devices, watches them, and reopens one that fails or
/// drops with backoff, without touching the others. Every change of state or
/// reasons is published as a `device.status` event.
///
/// Each device has one supervisor loop (inside `run()`) that handles, in order,
/// what the device signals, retry timers and reset requests, so the state of one
/// device changes in one place.
public actor DeviceRegistry {
    enum Input: Sendable {
        case signal(DeviceSignal)
        case retry(generation: Int)
        case reset(OneShot<Void>)
        case barrier(OneShot<Void>)
    }

    struct Entry {
        let device: any Device
        let logger: Logger
        let inputs: AsyncStream<Input>
        let feed: AsyncStream<Input>.Continuation
        var status: DeviceStatus = .starting
        var identity = DeviceIdentity()
        var capabilities = DeviceCapabilities()
        var counters = DeviceCounters()
        var lastError: LastError?
        var isOpen = false
        var attempted = false
        var generation = 0
        var backoff: Duration?
        var onlineSince: Date?
    }

    private var entries: [DeviceID: Entry] = [:] { didSet { changes.add(1, ordering: .releasing) } }
    /// Counts the changes of the devices' snapshots, readable without waiting for the
    /// actor: an API answer made at a count is still right while the count is the same.
    private nonisolated let changes = Atomic<Int>(0)
    public nonisolated var revision: Int { changes.load(ordering: .acquiring) }
    public nonisolated let ids: [DeviceID]
    private let events: any EventPublisher
    private let counterStore: (any CounterStore)?
    private let clock: any Clock<Duration>
    private let retry: RetryPolicy
    private let logger: Logger
    private var readyWaiters: [CheckedContinuation<Void, Never>] = []

    public init(
        devices: [any Device],
        events: any EventPublisher,
        counters: (any CounterStore)? = nil,
        clock: any Clock<Duration> = ContinuousClock(),
        retry: RetryPolicy = RetryPolicy(),
        logger: Logger
    ) {
        self.events = events
        self.counterStore = counters
        self.clock = clock
        self.retry = retry
        self.logger = logger
        var ids: [DeviceID] = []
        for device in devices {
            var deviceLogger = logger
            deviceLogger[metadataKey: "device.id"] = "\(device.id)"
            deviceLogger[metadataKey: "driver"] = "\(device.driver)"
            let (stream, feed) = AsyncStream.makeStream(of: Input.self)
            entries[device.id] = Entry(device: device, logger: deviceLogger, inputs: stream, feed: feed)
            ids.append(device.id)
        }
        self.ids = ids
    }

    // MARK: reading

    public func snapshots(kind: DeviceKind? = nil) -> [DeviceSnapshot] {
        ids.compactMap { snapshot($0) }.filter { kind == nil || $0.kind == kind }
    }

    public func snapshot(_ id: DeviceID) -> DeviceSnapshot? {
        guard let e = entries[id] else { return nil }
        return DeviceSnapshot(
            id: id, kind: e.device.kind, driver: e.device.driver, name: e.device.name, status: e.status,
            identity: e.identity, capabilities: e.capabilities, counters: e.counters, lastError: e.lastError,
            isOpen: e.isOpen)
    }

    public func device(_ id: DeviceID) -> (any Device)? { entries[id]?.device }

    /// True once every device has been tried once (opened or failed).
    public var allAttempted: Bool { entries.values.allSatisfy(\.attempted) }

    /// Returns when every device has been tried once.
    public func waitUntilAllAttempted() async {
        if allAttempted { return }
        await withCheckedContinuation { readyWaiters.append($0) }
    }

    /// Records an operation's failure as the device's last error.
    public func recordError(_ id: DeviceID, _ error: DeviceError) {
        entries[id]?.lastError = LastError(code: error.code, message: error.message, reasons: error.reasons, at: Timestamp.string())
    }

    /// Closes and reopens a device (port reopen, USB reset where the driver does it),
    /// and returns its state afterwards.
    public func reset(_ id: DeviceID) async throws -> DeviceSnapshot {
        guard let entry = entries[id] else { throw DeviceError(.notFound, "no device \(id)", device: id) }
        let done = OneShot<Void>()
        // A registry that stops drops what waits in its feed: cancellation ends the wait.
        if case .enqueued = entry.feed.yield(.reset(done)) { try await done.wait() }
        return snapshot(id)!
    }

    /// A hotplug report from outside the device (libusb): the device arrived (opened
    /// at once if it is closed) or left (closed, `noDevice`, retried with backoff).
    public func hotplug(_ id: DeviceID, present: Bool) {
        guard let entry = entries[id] else { return }
        entry.feed.yield(.signal(present ? .present : .lost(DeviceStatus(.noDevice, reasons: [Reason.deviceAbsent]))))
    }

    /// Returns once everything the device signalled so far has been applied, or when
    /// the waiting task is cancelled: a registry that stops drops what waits in its feed.
    public func settle(_ id: DeviceID) async {
        guard let entry = entries[id] else { return }
        let applied = OneShot<Void>()
        if case .enqueued = entry.feed.yield(.barrier(applied)) { try? await applied.wait() }
    }

    // MARK: supervision

    /// Supervises every device until the task is cancelled, then closes them all.
    public func run() async {
        await loadCounters()
        await withDiscardingTaskGroup { group in
            for id in ids {
                group.addTask { await self.supervise(id) }
            }
        }
        // With no devices (a PC kept for its hall, or for the district's figures) there
        // is nothing to supervise, and still nothing ends before the daemon stops.
        while ids.isEmpty && !Task.isCancelled { try? await Task.sleep(for: .seconds(3600)) }
        // Closing runs after cancellation; a detached task (awaited here) keeps the
        // last counter writes from being cancelled with it.
        await Task.detached { await self.closeAll() }.value
    }

    private func closeAll() async {
        for id in ids {
            guard let entry = entries[id] else { continue }
            entry.feed.finish()
            await entry.device.close()
            await leaveOnline(id)
        }
    }

    private func loadCounters() async {
        guard let counterStore else { return }
        do {
            for (id, counters) in try await counterStore.loadCounters() where entries[id] != nil {
                entries[id]!.counters = counters
            }
        } catch {
            logger.error("could not load device counters: \(error)")
        }
    }

    private func supervise(_ id: DeviceID) async {
        guard let inputs = entries[id]?.inputs else { return }
        await withDiscardingTaskGroup { timers in
            await attemptOpen(id, timers: &timers)
            for await input in inputs {
                switch input {
                case .signal(let signal):
                    await handle(signal, from: id, timers: &timers)
                case .retry(let generation):
                    if let e = entries[id], e.generation == generation, !e.isOpen {
                        await attemptOpen(id, timers: &timers)
                    }
                case .reset(let done):
                    await performReset(id, timers: &timers)
                    done.fulfill(())
                case .barrier(let applied):
                    applied.fulfill(())
                }
            }
            timers.cancelAll()
        }
    }

    private func handle(_ signal: DeviceSignal, from id: DeviceID, timers: inout DiscardingTaskGroup) async {
        guard let entry = entries[id] else { return }
        switch signal {
        case .status(let status):
            guard entry.isOpen else { return }
            await setStatus(id, status)
        case .lost(let status):
            guard entry.isOpen else { return }
            entry.logger.warning("device lost: \(status)")
            entries[id]!.isOpen = false
            await setStatus(id, status)
            scheduleRetry(id, timers: &timers)
        case .present:
            if !entry.isOpen {
                entry.logger.info("device present again, opening now")
                await attemptOpen(id, timers: &timers)
            }
        case .event(let type, let data):
            await publish(NewEvent(type: type, device: id, data: data))
        case .count(let name, let delta):
            await count(id, name, delta)
        }
    }

    private func attemptOpen(_ id: DeviceID, timers: inout DiscardingTaskGroup) async {
        guard let entry = entries[id] else { return }
        entries[id]!.generation += 1
        let feed = entry.feed
        let context = DeviceContext(logger: entry.logger) { feed.yield(.signal($0)) }
        do {
            let info = try await entry.device.open(context: context)
            entries[id]!.isOpen = true
            entries[id]!.backoff = nil
            entries[id]!.identity = info.identity
            entries[id]!.capabilities = info.capabilities
            entry.logger.info("device open: \(info.status)")
            await count(id, .opens, 1)
            await setStatus(id, info.status)
            let device = entry.device
            timers.addTask { await device.run(context: context) }
        } catch {
            let deviceError = error as? DeviceError ?? DeviceError(.hardwareError, "\(error)", device: id)
            let status = DeviceStatus(deviceError.state ?? .offline, reasons: deviceError.reasons.isEmpty ? [Reason.openFailed] : deviceError.reasons)
            entries[id]!.isOpen = false
            recordError(id, deviceError)
            entry.logger.warning("device did not open: \(deviceError)")
            await setStatus(id, status)
            scheduleRetry(id, timers: &timers)
        }
        markAttempted(id)
    }

    private func performReset(_ id: DeviceID, timers: inout DiscardingTaskGroup) async {
        guard let entry = entries[id] else { return }
        entry.logger.notice("reset requested")
        await entry.device.close()
        entries[id]!.isOpen = false
        if let resettable = entry.device as? any HardwareResettable {
            do {
                try await resettable.hardwareReset()
                entry.logger.notice("hardware reset done")
            } catch {
                entry.logger.warning("hardware reset failed: \(error)")
                entries[id]!.lastError = LastError(code: .hardwareError, message: "reset: \(error)", reasons: [], at: Timestamp.string())
            }
        }
        await count(id, .resets, 1)
        await attemptOpen(id, timers: &timers)
    }

    private func scheduleRetry(_ id: DeviceID, timers: inout DiscardingTaskGroup) {
        guard var entry = entries[id] else { return }
        entry.generation += 1
        let delay = retry.delay(after: entry.backoff)
        entry.backoff = delay
        let generation = entry.generation
        entries[id] = entry
        let (clock, feed) = (clock, entry.feed)
        entry.logger.debug("retrying in \(delay)")
        timers.addTask {
            do {
                try await clock.sleep(for: delay)
                feed.yield(.retry(generation: generation))
            } catch {}
        }
    }

    private func markAttempted(_ id: DeviceID) {
        guard entries[id]?.attempted == false else { return }
        entries[id]!.attempted = true
        if allAttempted {
            let waiters = readyWaiters
            readyWaiters = []
            waiters.forEach { $0.resume() }
        }
    }

    private func setStatus(_ id: DeviceID, _ status: DeviceStatus) async {
        guard let entry = entries[id], entry.status != status else { return }
        let previous = entry.status
        entries[id]!.status = status
        if status.state == .online, entries[id]!.onlineSince == nil {
            entries[id]!.onlineSince = Date()
        } else if status.state != .online {
            await leaveOnline(id)
        }
        if status.state == .noDevice, previous.state != .noDevice, previous.state != .starting {
            await publish(NewEvent(type: EventType.deviceRemoved, device: id, data: ["kind": .string(entry.device.kind.rawValue)]))
        }
        if previous.state == .noDevice, status.state != .noDevice {
            await publish(NewEvent(type: EventType.deviceAdded, device: id, data: ["kind": .string(entry.device.kind.rawValue)]))
        }
        entry.logger.info("state \(previous) -> \(status)")
        await publish(
            NewEvent(
                type: EventType.deviceStatus, device: id,
                data: [
                    "kind": .string(entry.device.kind.rawValue),
                    "state": .string(status.state.rawValue),
                    "reasons": .array(status.reasons.map { .string($0) }),
                    "previousState": .string(previous.state.rawValue),
                ]))
    }

    private func leaveOnline(_ id: DeviceID) async {
        guard let since = entries[id]?.onlineSince else { return }
        entries[id]!.onlineSince = nil
        let seconds = Int64(Date().timeIntervalSince(since))
        if seconds > 0 {
            entries[id]!.counters[.secondsOnline] += seconds
            await persist(id, .secondsOnline, seconds)
        }
    }

    private func count(_ id: DeviceID, _ name: CounterName, _ delta: Int64) async {
        entries[id]?.counters[name] += delta
        await persist(id, name, delta)
    }

    private func persist(_ id: DeviceID, _ name: CounterName, _ delta: Int64) async {
        guard let counterStore else { return }
        do {
            try await counterStore.addCounter(id, name, delta)
        } catch {
            logger.error("counter \(id).\(name.rawValue) not saved: \(error)")
        }
    }

    private func publish(_ event: NewEvent) async {
        do {
            try await events.publish(event)
        } catch {
            logger.error("event \(event.type) not stored: \(error)")
        }
    }
}
