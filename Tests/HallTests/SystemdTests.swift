import ChildProcess
import Foundation
import HallAPIModels
import HallClient
@testable import HallDaemon
import Synchronization
import Testing
import UnixSockets

#if canImport(Glibc)
import Glibc
#endif

/// A datagram socket the test owns, standing in for systemd's notify socket.
final class NotifySocket: @unchecked Sendable {
    // @unchecked: the descriptor is read by one thread at a time.
    let path: String
    let fd: Int32

    init(path: String) throws {
        self.path = path
        do { fd = try UnixSocket.bind(path, type: SOCK_DGRAM) } catch { throw CupsPeer.Failure("\(error)") }
        var tv = timeval(tv_sec: 0, tv_usec: 100_000)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    }

    deinit { close(fd) }

    /// The next datagram, or nil after 100 ms of silence.
    func receive() -> String? {
        var buffer = [UInt8](repeating: 0, count: 4096)
        let n = recv(fd, &buffer, buffer.count, 0)
        return n > 0 ? String(decoding: buffer[0..<n], as: UTF8.self) : nil
    }
}

@Suite("systemd", .timeLimit(.minutes(3)))
struct SystemdTests {
    @Test("the notify protocol: READY=1 with a STATUS once the socket answers, WATCHDOG=1 at half of WATCHDOG_USEC, STOPPING=1 on shutdown")
    func notify() async throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let sink = try NotifySocket(path: dir + "/notify.sock")
        let config = try simulatedConfig(dir: dir)
        let daemon = Daemon(config: config, logger: testLogger, environment: ["NOTIFY_SOCKET": sink.path, "WATCHDOG_USEC": "200000"])
        let messages = Mutex<[(Date, String)]>([])
        let reader = Thread {
            let until = Date().addingTimeInterval(8)
            while Date() < until {
                if let m = sink.receive() { messages.withLock { $0.append((Date(), m)) } }
                if messages.withLock({ $0.contains { $0.1.contains("STOPPING=1") } }) { break }
            }
        }
        reader.start()
        let (ready, feed) = AsyncStream.makeStream(of: Daemon.Handle.self)
        let run = Task { try await daemon.run(onReady: { feed.yield($0) }) }
        var handle: Daemon.Handle?
        for await h in ready {
            handle = h
            break
        }
        try await Task.sleep(for: .milliseconds(1000))
        await handle?.shutdown()
        try await run.value
        for _ in 0..<50 where !messages.withLock({ $0.contains { $0.1.contains("STOPPING=1") } }) { try await Task.sleep(for: .milliseconds(20)) }
        let all = messages.withLock { $0 }
        let readyMessage = try #require(all.first { $0.1.contains("READY=1") })
        #expect(readyMessage.1.contains("STATUS=listening on \(config.socket); 8 of 8 devices online"))
        let watchdogs = all.filter { $0.1 == "WATCHDOG=1" }.map(\.0)
        #expect(watchdogs.count >= 3, "\(watchdogs.count) WATCHDOG=1 in about a second at a 100 ms cadence")
        let gaps = zip(watchdogs.dropFirst(), watchdogs).map { $0.timeIntervalSince($1) }
        // Half of 200 ms: never faster, and the quickest beat shows the 100 ms schedule
        // (a loaded machine only lengthens gaps).
        #expect(gaps.allSatisfy { $0 > 0.05 }, "\(gaps)")
        let quickest = gaps.min() ?? 0
        #expect(quickest > 0.08 && quickest < 0.25, "quickest gap \(quickest) s: \(gaps)")
        #expect(all.contains { $0.1.hasPrefix("STATUS=") && $0.1.contains("devices online") })
        #expect(all.last { $0.1.contains("STOPPING=1") } != nil)
    }

    @Test("WATCHDOG=1 is sent only while the registry, the hall and the database answer: a wedged hall stops the beats and is named in STATUS; they resume when it answers")
    func watchdogNeedsAnswers() async throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let sink = try NotifySocket(path: dir + "/notify.sock")
        let config = try simulatedConfig(dir: dir)
        final class Wedge: Sendable { let on = Mutex(false) }
        let wedge = Wedge()
        var daemon = Daemon(config: config, logger: testLogger, environment: ["NOTIFY_SOCKET": sink.path, "WATCHDOG_USEC": "200000"])
        // The hall stops answering while wedged (as an actor stuck in a long call would).
        daemon.probeOverrides["hall"] = LivenessProbe("hall") {
            while wedge.on.withLock({ $0 }) { try await Task.sleep(for: .milliseconds(5)) }
        }
        let messages = Mutex<[(Date, String)]>([])
        let stop = Mutex(false)
        let reader = Thread {
            let until = Date().addingTimeInterval(20)
            while Date() < until && !stop.withLock({ $0 }) {
                if let m = sink.receive() { messages.withLock { $0.append((Date(), m)) } }
            }
        }
        reader.start()
        defer { stop.withLock { $0 = true } }
        let (ready, feed) = AsyncStream.makeStream(of: Daemon.Handle.self)
        let run = Task { [daemon] in try await daemon.run(onReady: { feed.yield($0) }) }
        var handle: Daemon.Handle?
        for await h in ready {
            handle = h
            break
        }
        func beats(after: Date, before: Date) -> Int { messages.withLock { $0.filter { $0.1 == "WATCHDOG=1" && $0.0 > after && $0.0 < before }.count } }
        try await Task.sleep(for: .milliseconds(600))
        let wedgedAt = Date()
        wedge.on.withLock { $0 = true }
        try await Task.sleep(for: .milliseconds(1000))
        let unwedgedAt = Date()
        wedge.on.withLock { $0 = false }
        try await Task.sleep(for: .milliseconds(600))
        await handle?.shutdown()
        try await run.value
        let all = messages.withLock { $0 }
        #expect(beats(after: .distantPast, before: wedgedAt) >= 2, "beats before the wedge: \(all.map(\.1))")
        // A beat already under way when the wedge began may still land just after it.
        #expect(beats(after: wedgedAt.addingTimeInterval(0.25), before: unwedgedAt) == 0, "beats while the hall was wedged: \(all.map(\.1))")
        #expect(all.contains { $0.1 == "STATUS=not answering: hall" && $0.0 > wedgedAt }, "\(all.map(\.1))")
        #expect(beats(after: unwedgedAt, before: .distantFuture) >= 2, "beats after: \(all.map(\.1))")
    }

    @Test("socket activation: halld serves the listening socket systemd passes (LISTEN_FDS), binds nothing itself, and leaves that socket in place when it stops")
    func socketActivation() async throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try writeSimulatedConfigFile(dir + "/halld.toml", socket: dir + "/own.sock", state: dir + "/state")
        // What systemd does for halld.socket: bind and listen, then start the service with
        // the socket as descriptor 3, LISTEN_FDS=1 and LISTEN_PID = the service's pid
        // (sh sets it to its own pid, then execs halld, which keeps that pid).
        let path = dir + "/systemd.sock"
        let listener = try UnixSocket.bind(path, backlog: 16)
        defer { close(listener) }
        let log = dir + "/halld.log"
        let script = "LISTEN_PID=$$ LISTEN_FDS=1 LISTEN_FDNAMES=halld.sock exec \"$0\" \"$@\""
        let pid = try spawn(
            ["/bin/sh", "-c", script, builtExecutable("halld"), "--config", dir + "/halld.toml", "--log-level", "info"], fd3: listener, log: log)
        let client = HallClient(socketPath: path)
        var devices: [DeviceSummary] = []
        for _ in 0..<500 {
            if let d: [DeviceSummary] = try? await client.call("GET", "/v1/devices") {
                devices = d
                break
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(devices.count == 8, "halld answers on the socket it inherited")
        #expect(!FileManager.default.fileExists(atPath: dir + "/own.sock"), "halld did not bind api.socket")
        kill(pid, SIGTERM)
        // Reaped without blocking a thread: WNOHANG, polled with a deadline.
        let reaped = Mutex<Int32?>(nil)
        try await eventually("halld (pid \(pid)) exiting after SIGTERM", within: .seconds(15), seen: { (try? String(contentsOfFile: log, encoding: .utf8))?.suffix(1500).description ?? "" }) {
            var raw: Int32 = 0
            guard waitpid(pid, &raw, WNOHANG) == pid else { return false }
            reaped.withLock { $0 = raw }
            return true
        }
        let status = reaped.withLock { $0 } ?? -1
        #expect(status == 0, "halld exit status \(status)")
        let output = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        #expect(output.contains("listening on halld.sock (descriptor 3 from systemd) (mode and group set by systemd)"), "\(output)")
        // The socket is systemd's: still there, still listening, for the next start.
        #expect(FileManager.default.fileExists(atPath: path), "halld left the socket file")
        #expect((try? RawConnection(unix: path)) != nil, "the socket still accepts connections (queued for the next halld)")
    }

    /// posix_spawn with `fd3` as descriptor 3 and stdout/stderr to `log` (Foundation's
    /// Process cannot pass a descriptor at a given number).
    func spawn(_ argv: [String], fd3: Int32, log: String) throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, fd3, 3)
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, log, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        let args = argv.map { strdup($0) } + [nil]
        defer { for a in args { free(a) } }
        var env = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("LISTEN_") && $0.key != "NOTIFY_SOCKET" }.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { for e in env { free(e) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, argv[0], &actions, nil, args, &env)
        guard rc == 0 else { throw CupsPeer.Failure("posix_spawn \(argv[0]): \(String(cString: strerror(rc)))") }
        return pid
    }

    @Test("LISTEN_FDS meant for another process, or a descriptor that is not a listening Unix socket, is not taken")
    func inheritedChecks() throws {
        #expect(try SystemdSockets.inheritedUnixListener(environment: [:]) == nil)
        #expect(try SystemdSockets.inheritedUnixListener(environment: ["LISTEN_FDS": "1", "LISTEN_PID": "1"]) == nil)
        // A pipe, and a Unix socket that does not listen, are refused with the reason.
        var pipeEnds: [Int32] = [0, 0]
        #expect(pipe(&pipeEnds) == 0)
        defer { close(pipeEnds[0]); close(pipeEnds[1]) }
        let env = ["LISTEN_FDS": "1", "LISTEN_PID": "\(getpid())"]
        #expect(throws: SystemdSockets.Problem.self) { _ = try SystemdSockets.inheritedUnixListener(environment: env, first: pipeEnds[0]) }
        let unconnected = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(unconnected) }
        do {
            _ = try SystemdSockets.inheritedUnixListener(environment: env, first: unconnected)
            Issue.record("a socket that does not listen was taken")
        } catch let problem as SystemdSockets.Problem {
            #expect(problem.description.contains("must be a listening Unix stream socket"))
        }
    }

    @Test("without NOTIFY_SOCKET nothing is sent; a WATCHDOG_PID of another process leaves the watchdog off")
    func quiet() {
        #expect(SystemdNotifier(environment: [:]).notify("READY=1") == false)
        #expect(SystemdNotifier(environment: ["WATCHDOG_USEC": "1000000"]).watchdogInterval == .milliseconds(500))
        #expect(SystemdNotifier(environment: ["WATCHDOG_USEC": "1000000", "WATCHDOG_PID": "1"]).watchdogInterval == nil)
    }
}

@Suite("hallctl doctor", .timeLimit(.minutes(3)))
struct DoctorTests {
    @Test("doctor on a healthy setup says OK line by line; on a broken one it names each problem with its fix and exits 1")
    func doctor() async throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let config = try simulatedConfig(dir: dir)
        let text = try writeSimulatedConfigFile(dir + "/good.toml", socket: config.socket, state: config.stateDir)
        let broken = text + "\n[[device]]\nid = \"keypad-9\"\nkind = \"keypad\"\ndriver = \"hallbus\"\nport = \"\(dir)/no-such-adapter\"\n"
        try broken.write(toFile: dir + "/missing-port.toml", atomically: true, encoding: .utf8)
        try (text + "\n[[device]]\nid = \"x\"\nkind = \"camera\"\n").write(toFile: dir + "/bad.toml", atomically: true, encoding: .utf8)
        let hallctl = builtExecutable("hallctl")
        try await withDaemon(config) { socket in
            let (ok, good) = try await runCommand([hallctl, "doctor", "--config", dir + "/good.toml", "--socket", socket])
            #expect(ok == 0, "\(good)")
            #expect(good.contains("OK    socket: halld"))
            #expect(good.contains("OK    role: this user is technician"))
            #expect(good.contains("OK    device display-1: online"))
            #expect(!good.contains("FAIL"))

            let (missing, out) = try await runCommand([hallctl, "doctor", "--config", dir + "/missing-port.toml", "--socket", socket])
            #expect(missing == 1)
            #expect(out.contains("FAIL  serial \(dir)/no-such-adapter: missing (keypad-9)"))
            #expect(out.contains("fix: plug the USB-serial adapter in"))

            let (bad, badOut) = try await runCommand([hallctl, "doctor", "--config", dir + "/bad.toml", "--socket", socket])
            #expect(bad == 1)
            #expect(badOut.contains("FAIL  config:") && badOut.contains("device[8].kind"), "\(badOut)")

            // diag: an archive with versions, redacted configuration, devices, events, doctor, logs.
            let (diag, diagOut) = try await runCommand([hallctl, "diag", "--config", dir + "/good.toml", "--socket", socket, "--out", dir + "/diag.tar.gz"])
            #expect(diag == 0, "\(diagOut)")
            let (_, listing) = try await runCommand(["/bin/tar", "-tzf", dir + "/diag.tar.gz"])
            for name in ["versions.txt", "halld.toml", "devices.json", "events.jsonl", "doctor.txt", "halld.log"] {
                #expect(listing.contains("halld-diag/" + name), "\(name) missing from \(listing)")
            }
            _ = try await runCommand(["/bin/tar", "-xzf", dir + "/diag.tar.gz", "-C", dir])
            #expect(try String(contentsOfFile: dir + "/halld-diag/devices.json", encoding: .utf8).contains("\"display-main\""))
            #expect(try String(contentsOfFile: dir + "/halld-diag/events.jsonl", encoding: .utf8).contains("daemon.started"))
            #expect(try String(contentsOfFile: dir + "/halld-diag/doctor.txt", encoding: .utf8).contains("OK    socket"))
            let packedConfig = try String(contentsOfFile: dir + "/halld-diag/halld.toml", encoding: .utf8)
            #expect(packedConfig.contains("城关镇便民服务中心") && packedConfig.contains("keypad = \"keypad-1\""))

            let (down, downOut) = try await runCommand([hallctl, "doctor", "--config", dir + "/good.toml", "--socket", dir + "/nobody.sock"])
            #expect(down == 1)
            #expect(downOut.contains("FAIL  socket: halld does not answer"))
        }
    }
}
