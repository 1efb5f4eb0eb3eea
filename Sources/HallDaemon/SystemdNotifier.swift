import Foundation
import Logging
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// systemd's notify protocol, spoken by halld itself: datagrams of `KEY=VALUE`
/// lines to the Unix socket in `NOTIFY_SOCKET` (a path, or `@name` for the
/// abstract namespace). Without `NOTIFY_SOCKET` every call does nothing.
public struct SystemdNotifier: Sendable {
    public let socketPath: String?
    /// Half of `WATCHDOG_USEC` when it is set for this process.
    public let watchdogInterval: Duration?

    public init(environment: [String: String] = ProcessInfo.processInfo.environment) {
        socketPath = environment["NOTIFY_SOCKET"].flatMap { $0.isEmpty ? nil : $0 }
        let pidMatches = environment["WATCHDOG_PID"].map { Int32($0) == getpid() } ?? true
        if pidMatches, let usec = environment["WATCHDOG_USEC"].flatMap(UInt64.init), usec > 0 {
            watchdogInterval = .microseconds(Int64(usec / 2))
        } else {
            watchdogInterval = nil
        }
    }

    /// Sends one notification; returns false when there is nobody to tell or the send failed.
    @discardableResult
    public func notify(_ state: String) -> Bool {
        guard let socketPath, let socket = UnixDatagram() else { return false }
        return socket.send(Array(state.utf8), to: socketPath)
    }

    /// At half the watchdog interval, asks each of `probes` to answer within half of
    /// that again, and sends `WATCHDOG=1` only when all did: a wedged part of the
    /// daemon (the device registry, the hall, the database) stops the beats, and
    /// systemd restarts halld. Beats are never closer than the half interval and at
    /// most three quarters of `WATCHDOG_USEC` apart. A probe that does not answer is
    /// named in the log and in `STATUS=`. Runs until cancelled.
    public func watchdogLoop(probes: [LivenessProbe], logger: Logger) async {
        guard let interval = watchdogInterval, socketPath != nil else { return }
        var silent: [String] = []
        while !Task.isCancelled {
            let failing = await LivenessProbe.failing(probes, within: interval / 2)
            if failing.isEmpty {
                notify("WATCHDOG=1")
                if !silent.isEmpty { logger.notice("watchdog: \(silent.joined(separator: ", ")) answering again") }
            } else if failing != silent {
                logger.error("watchdog: \(failing.joined(separator: ", ")) not answering within \(interval / 2); WATCHDOG=1 withheld")
                notify("STATUS=not answering: \(failing.joined(separator: ", "))")
            }
            silent = failing
            do { try await Task.sleep(for: interval) } catch { return }
        }
    }
}

/// One part of the daemon the watchdog asks before each beat: it answers by
/// returning, and fails by throwing or by not returning in time.
public struct LivenessProbe: Sendable {
    public let name: String
    public let check: @Sendable () async throws -> Void

    public init(_ name: String, _ check: @escaping @Sendable () async throws -> Void) {
        self.name = name
        self.check = check
    }

    /// The names of the probes that did not answer within `limit` (all asked at once).
    /// A probe that does not return is left running, never awaited past the limit.
    static func failing(_ probes: [LivenessProbe], within limit: Duration) async -> [String] {
        final class Answered: Sendable {
            let names = Mutex<Set<String>>([])
        }
        let answered = Answered()
        let count = probes.count
        let (done, feed) = AsyncStream.makeStream(of: Void.self)
        var tasks: [Task<Void, Never>] = []
        for probe in probes {
            let (name, check) = (probe.name, probe.check)
            tasks.append(
                Task {
                    if (try? await check()) != nil {
                        let all = answered.names.withLock { a -> Bool in
                            a.insert(name)
                            return a.count == count
                        }
                        if all { feed.finish() }
                    }
                })
        }
        let timer = Task {
            try? await Task.sleep(for: limit)
            feed.finish()
        }
        if probes.isEmpty { feed.finish() }
        for await _ in done {}
        timer.cancel()
        let names = answered.names.withLock { $0 }
        for task in tasks { task.cancel() }
        return probes.map(\.name).filter { !names.contains($0) }
    }
}
