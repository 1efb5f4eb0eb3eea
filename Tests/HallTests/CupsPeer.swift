import ChildProcess
import Foundation
import Synchronization
import UnixSockets

#if canImport(Glibc)
import Glibc
#endif

/// Runs `body` with a private cupsd (Tests/peers/cups_peer.sh) whose raw queue `ticket`
/// goes to a capture listener (Tests/peers/capture_printer.py) on a loopback port;
/// stops every process it started afterwards, whether `body` threw or not.
func withCupsPeer<T: Sendable>(_ body: (CupsPeer) async throws -> T) async throws -> T {
    let peer = try await CupsPeer.start()
    do {
        let result = try await body(peer)
        await peer.stop()
        return result
    } catch {
        await peer.stop()
        throw error
    }
}

/// A private cupsd and the printers behind it: the bytes a ticket printer would
/// receive land in `captured`. `printerOff` / `printerOn` stop and restart the listener.
final class CupsPeer: Sendable {
    let dir: String
    let port: Int
    var socket: String { dir + "/cups.sock" }
    var capturePath: String { dir + "/captured.bin" }
    private let cupsd: Child
    private let listener = Mutex<Child?>(nil)
    private let ippeve = Mutex<Child?>(nil)
    /// The D-Bus system bus this peer started for ippeveprinter (nil: one was running).
    private let startedBus = Mutex<Child?>(nil)
    var a4Spool: String { dir + "/ippeve-spool" }

    typealias Failure = ProcessFailure

    private init(dir: String, port: Int, cupsd: Child) {
        self.dir = dir
        self.port = port
        self.cupsd = cupsd
    }

    static func start() async throws -> CupsPeer {
        let dir = try temporaryDirectory()
        chmod(dir, 0o755)
        let port = Int.random(in: 20_000...40_000)
        let configured = try await runCommand(["/bin/bash", repositoryRoot + "/Tests/peers/cups_peer.sh", "configure", dir])
        guard configured.status == 0, configured.output.contains("configured") else { throw Failure("cups_peer.sh configure: \(configured.output)") }
        let cupsd: Child
        do {
            cupsd = try await Child.start(["/usr/sbin/cupsd", "-f", "-c", dir + "/cupsd.conf", "-s", dir + "/cups-files.conf"])
        } catch {
            throw Failure("cannot start /usr/sbin/cupsd (make test installs cups): \(error)")
        }
        let peer = CupsPeer(dir: dir, port: port, cupsd: cupsd)
        do {
            try await eventually("the private cupsd answering lpstat -r", within: .seconds(15), every: .milliseconds(50), seen: {
                "cupsd running: \(cupsd.isRunning); \((try? String(contentsOfFile: dir + "/log/error_log", encoding: .utf8))?.suffix(2000) ?? "no log")"
            }) {
                guard cupsd.isRunning else { throw Failure("cupsd exited: \(cupsd.output)") }
                return (try? await runCommand(["/usr/bin/lpstat", "-r"], environment: ["CUPS_SERVER": peer.socket], within: .seconds(10)))?.output.contains("is running") ?? false
            }
            try await peer.printerOn()
            try await peer.lpadmin(["-p", "ticket", "-E", "-v", "socket://127.0.0.1:\(port)", "-m", "raw"])
        } catch {
            await peer.stop()
            throw error
        }
        return peer
    }

    /// Stops everything this peer started and removes its folder.
    func stop() async {
        if let p = ippeve.withLock({ $0 }) { await p.stop(signal: SIGKILL) }
        if let bus = startedBus.withLock({ $0 }) {
            await bus.stop(signal: SIGKILL)
            try? FileManager.default.removeItem(atPath: "/run/dbus/system_bus_socket")
        }
        // SIGTERM: cupsd stops the socket backends still retrying for a switched-off printer.
        await cupsd.stop(signal: SIGTERM)
        // A socket backend still retrying for this printer can outlive cupsd: it goes too.
        _ = try? await runCommand(["/usr/bin/pkill", "-KILL", "-f", "socket://127.0.0.1:\(port)"], within: .seconds(10))
        await printerOff()
        try? FileManager.default.removeItem(atPath: dir)
    }

    /// What went on behind the queues, for a failed expectation: the end of cupsd's
    /// error log and what ippeveprinter printed.
    var diagnostics: String {
        let log = (try? String(contentsOfFile: dir + "/log/error_log", encoding: .utf8)).map { String($0.suffix(3000)) } ?? "no error_log"
        let a4 = ippeve.withLock { $0 }.map { "ippeveprinter running: \($0.isRunning), printed: \($0.output.suffix(1000))" } ?? "no ippeveprinter"
        return "cupsd error_log: \(log)\n\(a4)"
    }

    var captured: [UInt8] { (try? Data(contentsOf: URL(fileURLWithPath: capturePath))).map { Array($0) } ?? [] }

    /// Runs a CUPS command-line tool against this cupsd.
    @discardableResult
    func tool(_ arguments: [String]) async throws -> String {
        let r = try await runCommand(arguments, environment: ["CUPS_SERVER": socket], within: .seconds(30))
        guard r.status == 0 else { throw Failure("\(arguments.joined(separator: " ")): \(r.output)") }
        return r.output
    }

    func lpadmin(_ arguments: [String]) async throws { try await tool(["/usr/sbin/lpadmin"] + arguments) }

    /// The ticket printer switched on: the listener accepts and keeps bytes.
    func printerOn() async throws {
        let p = try await Child.start(["/usr/bin/env", "python3", repositoryRoot + "/Tests/peers/capture_printer.py", "\(port)", capturePath])
        do {
            try await p.waitForOutput("ready", within: .seconds(10))
        } catch {
            await p.stop(signal: SIGKILL)
            throw Failure("capture listener did not start: \(error)")
        }
        listener.withLock { $0 = p }
    }

    /// The ticket printer switched off: nothing listens on its port.
    func printerOff() async {
        let p = listener.withLock { l -> Child? in
            defer { l = nil }
            return l
        }
        if let p { await p.stop(signal: SIGKILL) }
    }

    /// An IPP Everywhere A4 printer: ippeveprinter (cups-ipp-utils) behind the queue
    /// `a4` (`lpadmin -m everywhere`). It keeps each job's document in `a4Spool`.
    func startA4() async throws {
        let busSocket = "/run/dbus/system_bus_socket"
        if !UnixSocket.isAnswering(busSocket) {
            // ippeveprinter wants a D-Bus system bus (for DNS-SD); containers have none
            // running. It runs in the foreground as this peer's child and stops with it.
            // A socket file left by a bus that was killed answers nothing: ippeveprinter
            // would start, and no job would reach it. The file goes first.
            try? FileManager.default.removeItem(atPath: busSocket)
            try? FileManager.default.createDirectory(atPath: "/run/dbus", withIntermediateDirectories: true)
            let bus = try await Child.start(["/usr/bin/dbus-daemon", "--system", "--nofork", "--nopidfile"])
            startedBus.withLock { $0 = bus }
            try await eventually("the D-Bus system bus answering on its socket", within: .seconds(5), seen: { bus.output }) {
                guard bus.isRunning else { throw Failure("dbus-daemon exited: \(bus.output)") }
                return UnixSocket.isAnswering(busSocket)
            }
        }
        try FileManager.default.createDirectory(atPath: a4Spool, withIntermediateDirectories: true)
        let ippPort = port + 1
        let p = try await Child.start([
            "/usr/sbin/ippeveprinter", "-r", "off", "-p", "\(ippPort)", "-n", "localhost", "-d", a4Spool, "-k",
            "-f", "application/pdf,image/pwg-raster,image/urf", "halld-a4",
        ])
        ippeve.withLock { $0 = p }
        try await eventually("lpadmin adding the ippeveprinter queue a4", within: .seconds(15), every: .milliseconds(200), seen: { p.output }) {
            guard p.isRunning else { throw Failure("ippeveprinter exited: \(p.output)") }
            return (try? await lpadmin(["-p", "a4", "-E", "-v", "ipp://localhost:\(ippPort)/ipp/print", "-m", "everywhere"])) != nil
        }
    }
}
