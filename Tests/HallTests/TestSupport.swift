import DeviceKit
import Foundation
@testable import HallConfiguration
import Logging
import Synchronization

@testable import HallAPI
@testable import HallDaemon
@testable import SQLiteStore

/// Keeps every published event and lets a test await the next one of a type.
final class EventRecorder: EventPublisher, Sendable {
    private let state = Mutex<(events: [HallEvent], waiters: [(String, (HallEvent) -> Bool, CheckedContinuation<HallEvent?, Never>, String, String)], consumed: [String: Int])>(([], [], [:]))

    func publish(_ event: NewEvent) async throws -> HallEvent {
        let resumed: [(CheckedContinuation<HallEvent?, Never>, HallEvent)] = state.withLock { s in
            let e = HallEvent(seq: Int64(s.events.count + 1), type: event.type, time: Timestamp.string(), device: event.device, data: event.data)
            s.events.append(e)
            var ready: [(CheckedContinuation<HallEvent?, Never>, HallEvent)] = []
            s.waiters.removeAll { w in
                if w.0 == e.type && w.1(e) {
                    s.consumed[w.3] = s.events.count
                    ready.append((w.2, e))
                    return true
                }
                return false
            }
            return ready
        }
        resumed.forEach { $0.0.resume(returning: $0.1) }
        return state.withLock { $0.events.last! }
    }

    var all: [HallEvent] { state.withLock { $0.events } }

    /// The next event of `type` (from any device, or from `device`) after the last one
    /// returned for the same type and device, waiting up to `limit` if none yet. On the
    /// deadline it throws, naming what it waited for and the last events it saw.
    func next(
        _ type: String, device: String? = nil, within limit: Duration = .seconds(30), where match: @escaping @Sendable (HallEvent) -> Bool = { _ in true }
    ) async throws -> HallEvent {
        let predicate: (HallEvent) -> Bool = { e in (device == nil || e.device?.rawValue == device) && match(e) }
        let key = "\(type)|\(device ?? "*")"
        let token = UUID().uuidString
        let found: HallEvent? = await withCheckedContinuation { (c: CheckedContinuation<HallEvent?, Never>) in
            let hit: HallEvent? = state.withLock { s in
                if let i = s.events.indices.dropFirst(s.consumed[key] ?? 0).first(where: { s.events[$0].type == type && predicate(s.events[$0]) }) {
                    s.consumed[key] = i + 1
                    return s.events[i]
                }
                s.waiters.append((type, predicate, c, key, token))
                return nil
            }
            if let hit { return c.resume(returning: hit) }
            // The timer starts once the waiter is registered, so it cannot fire before it.
            Task { [self] in
                try? await Task.sleep(for: limit)
                let waiter = state.withLock { s -> CheckedContinuation<HallEvent?, Never>? in
                    guard let i = s.waiters.firstIndex(where: { $0.4 == token }) else { return nil }
                    return s.waiters.remove(at: i).2
                }
                waiter?.resume(returning: nil)
            }
        }
        if let found { return found }
        let seen = all.suffix(12).map { "\($0.seq) \($0.type) \($0.device?.rawValue ?? "-") \($0.data)" }.joined(separator: "\n  ")
        throw EventTimeout(description: "no \(type) event\(device.map { " from \($0)" } ?? "") matching within \(limit); the last events seen:\n  \(seen)")
    }

    /// Waits for the `device.status` event that puts `device` into `state`.
    func status(_ device: String, _ state: DeviceState, within limit: Duration = .seconds(30)) async throws -> HallEvent {
        try await next(EventType.deviceStatus, device: device, within: limit) { $0.data["state"]?.stringValue == state.rawValue }
    }
}

struct EventTimeout: Error, CustomStringConvertible {
    let description: String
}

/// A device that fails to open while `failing` is set, and counts its attempts.
actor FlakyDevice: Device {
    nonisolated let id: DeviceID
    nonisolated let kind = DeviceKind.display
    nonisolated let driver = "test"
    nonisolated let name = "flaky"
    var failing: Bool
    private(set) var attempts = 0
    private var context: DeviceContext?
    let attemptsStream: AsyncStream<Int>
    private let attemptsFeed: AsyncStream<Int>.Continuation

    init(id: String, failing: Bool) {
        self.id = DeviceID(id)!
        self.failing = failing
        (attemptsStream, attemptsFeed) = AsyncStream.makeStream(of: Int.self)
    }

    func open(context: DeviceContext) async throws -> DeviceOpenInfo {
        attempts += 1
        attemptsFeed.yield(attempts)
        if failing { throw DeviceError(.deviceNotReady, "port gone", device: id, reasons: [Reason.deviceAbsent], state: .noDevice) }
        self.context = context
        return DeviceOpenInfo(identity: DeviceIdentity(connection: "test"), capabilities: DeviceCapabilities())
    }

    func setFailing(_ f: Bool) { failing = f }
    func drop() { context?.report(.lost(DeviceStatus(.noDevice, reasons: [Reason.deviceAbsent]))) }
    func close() async {}
    func healthCheck(_ level: HealthLevel) async throws -> HealthReport { HealthReport(device: id, level: level, checks: []) }
}

let testLogger: Logger = {
    var l = Logger(label: "halld-test")
    l.logLevel = .critical
    return l
}()

/// A fresh folder under /tmp with a short path (Unix socket paths are at most 107 bytes).
func temporaryDirectory() throws -> String {
    // A write to a peer that went away must be an EPIPE error, not the end of the whole
    // test run: NIO ignores SIGPIPE on its first socket, but one serial run still died
    // of SIGPIPE, so every test that makes a folder (nearly all that start daemons or
    // peers) ignores it again.
    signal(SIGPIPE, SIG_IGN)
    let path = "/tmp/halld-test-\(UUID().uuidString.prefix(8))"
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

/// The repository root, to read Config/ and openapi.yaml.
let repositoryRoot: String = {
    var url = URL(fileURLWithPath: #filePath)
    for _ in 0..<3 { url.deleteLastPathComponent() }
    return url.path
}()

/// The four simulated devices of Config/simulated.toml, in a config for a test daemon.
func simulatedConfig(dir: String) throws -> HallConfig {
    var config = try HallConfig.load(file: repositoryRoot + "/Config/simulated.toml")
    config.socket = dir + "/halld.sock"
    config.stateDir = dir + "/state"
    config.heartbeatSeconds = 1
    config.logLevel = "critical"
    return config
}

/// Config/simulated.toml as a file for a halld process of a test: the socket at
/// `socket` and the state under `state`; returns the text written to `file`.
@discardableResult
func writeSimulatedConfigFile(_ file: String, socket: String, state: String) throws -> String {
    var text = try String(contentsOfFile: repositoryRoot + "/Config/simulated.toml", encoding: .utf8)
    text = text.replacingOccurrences(of: "/run/halld/halld.sock", with: socket).replacingOccurrences(of: "/var/lib/halld", with: state)
    try text.write(toFile: file, atomically: true, encoding: .utf8)
    return text
}

/// Runs a real daemon on a Unix socket for the duration of `body`, then stops it
/// as SIGTERM does (graceful shutdown of its service group) and waits for it to end.
func withDaemon<T: Sendable>(_ config: HallConfig, _ body: @Sendable (String) async throws -> T) async throws -> T {
    let daemon = Daemon(config: config, logger: testLogger)
    let (ready, readyFeed) = AsyncStream.makeStream(of: Daemon.Handle.self)
    return try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { try await daemon.run(onReady: { readyFeed.yield($0) }) }
        var handle: Daemon.Handle?
        for await h in ready {
            handle = h
            break
        }
        do {
            let result = try await body(config.socket)
            await handle?.shutdown()
            try await group.waitForAll()
            return result
        } catch {
            await handle?.shutdown()
            try? await group.waitForAll()
            throw error
        }
    }
}

/// A clock the test moves by hand. Unlike a clock that only wakes sleepers already
/// registered, it lets a test wait until the code under test is asleep on it, so an
/// advance never slips in before the sleep it means to end (which would leave that
/// sleeper waiting forever).
final class ManualClock: Clock, Sendable {
    struct Instant: InstantProtocol {
        var offset: Duration
        func advanced(by duration: Duration) -> Self { Instant(offset: offset + duration) }
        func duration(to other: Self) -> Duration { other.offset - offset }
        static func < (lhs: Self, rhs: Self) -> Bool { lhs.offset < rhs.offset }
    }

    private struct Sleeper {
        let id: UUID
        let deadline: Instant
        let continuation: CheckedContinuation<Void, any Error>
    }

    private let state = Mutex<(now: Instant, sleepers: [Sleeper])>((Instant(offset: .zero), []))
    var now: Instant { state.withLock { $0.now } }
    var minimumResolution: Duration { .zero }
    /// How many sleeps are waiting on this clock now.
    var sleepers: Int { state.withLock { $0.sleepers.count } }

    func sleep(until deadline: Instant, tolerance: Duration? = nil) async throws {
        let id = UUID()
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (c: CheckedContinuation<Void, any Error>) in
                let due: Bool = state.withLock { s in
                    if Task.isCancelled || deadline <= s.now { return true }
                    s.sleepers.append(Sleeper(id: id, deadline: deadline, continuation: c))
                    return false
                }
                if due { Task.isCancelled ? c.resume(throwing: CancellationError()) : c.resume() }
            }
        } onCancel: {
            let s = state.withLock { s -> Sleeper? in
                guard let i = s.sleepers.firstIndex(where: { $0.id == id }) else { return nil }
                return s.sleepers.remove(at: i)
            }
            s?.continuation.resume(throwing: CancellationError())
        }
    }

    /// Waits (in real time, up to `limit`) until at least `count` sleeps wait on this clock.
    func waitForSleepers(_ count: Int = 1, within limit: Duration = .seconds(10)) async throws {
        try await eventually("\(count) sleeper(s) on the test clock", within: limit, every: .milliseconds(1), seen: { "\(self.sleepers) sleeping" }) {
            self.sleepers >= count
        }
    }

    /// Moves the clock on and wakes every sleep whose deadline it reaches.
    func advance(by duration: Duration) {
        let woken = state.withLock { s -> [Sleeper] in
            s.now = s.now.advanced(by: duration)
            let now = s.now
            let due = s.sleepers.filter { $0.deadline <= now }
            s.sleepers.removeAll { $0.deadline <= now }
            return due
        }
        woken.forEach { $0.continuation.resume() }
    }
}

/// Runs a daemon until `body` ends; `body` gets the port the listener `listener` names
/// reported (the TCP listener's or the bridge's: port 0 in the configuration picks one).
/// The daemon is stopped after, with a deadline: open connections and WebSockets and all.
func withListeningDaemon(
    _ config: HallConfig, listener: WritableKeyPath<Daemon, @Sendable (Int) -> Void>, _ body: @Sendable (Int) async throws -> Void
) async throws {
    var daemon = Daemon(config: config, logger: testLogger)
    let (ports, feed) = AsyncStream.makeStream(of: Int.self)
    daemon[keyPath: listener] = { feed.yield($0) }
    let (ready, readyFeed) = AsyncStream.makeStream(of: Daemon.Handle.self)
    let run = Task { [daemon] in try await daemon.run(onReady: { readyFeed.yield($0) }) }
    var handle: Daemon.Handle?
    for await h in ready {
        handle = h
        break
    }
    var port = 0
    for await p in ports {
        port = p
        break
    }
    func stop() async throws {
        await handle?.shutdown()
        let stopped = Flag()
        Task {
            _ = try? await run.value
            stopped.set()
        }
        try await eventually("the daemon stops", within: .seconds(15)) { stopped.isSet }
    }
    do {
        try await body(port)
    } catch {
        try? await stop()
        throw error
    }
    try await stop()
    try await run.value
}
