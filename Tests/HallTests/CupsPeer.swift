import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A private cupsd (Tests/peers/cups_peer.sh) with a raw queue `ticket` whose
/// socket:// device is a capture listener (Tests/peers/capture_printer.py) on a
/// loopback port: the bytes a ticket printer would receive land in `captured`.
/// `printerOff` / `printerOn` stop and restart the listener.
final class CupsPeer: @unchecked Sendable {
    // @unchecked: the listener process is only touched under `listener`'s lock.
    let dir: String
    let port: Int
    var socket: String { dir + "/cups.sock" }
    var capturePath: String { dir + "/captured.bin" }
    private let listener = Mutex<Process?>(nil)
    private let cupsd = Process()
    private let ippeve = Mutex<Process?>(nil)
    /// The D-Bus system bus this peer started for ippeveprinter (nil: one was running).
    private let startedBus = Mutex<Process?>(nil)
    var a4Spool: String { dir + "/ippeve-spool" }

    struct Failure: Error, CustomStringConvertible {
        let description: String
        init(_ d: String) { description = d }
    }

    init() throws {
        dir = try temporaryDirectory()
        chmod(dir, 0o755)
        port = Int.random(in: 20_000...40_000)
        let (status, output) = try Self.run(["/bin/bash", repositoryRoot + "/Tests/peers/cups_peer.sh", "configure", dir])
        guard status == 0, output.contains("configured") else { throw Failure("cups_peer.sh configure: \(output)") }
        cupsd.executableURL = URL(fileURLWithPath: "/usr/sbin/cupsd")
        cupsd.arguments = ["-f", "-c", dir + "/cupsd.conf", "-s", dir + "/cups-files.conf"]
        cupsd.standardInput = FileHandle.nullDevice
        cupsd.standardOutput = FileHandle.nullDevice
        cupsd.standardError = FileHandle.nullDevice
        do {
            try cupsd.run()
        } catch {
            throw Failure("cannot start /usr/sbin/cupsd (make test installs cups): \(error)")
        }
        let deadline = Date().addingTimeInterval(15)
        while !((try? Self.run(["/usr/bin/lpstat", "-r"], environment: ["CUPS_SERVER": socket]).1.contains("is running")) ?? false) {
            guard cupsd.isRunning, Date() < deadline else {
                throw Failure("the private cupsd did not start: \((try? String(contentsOfFile: dir + "/log/error_log", encoding: .utf8)) ?? "no log")")
            }
            Thread.sleep(forTimeInterval: 0.05)
        }
        try printerOn()
        try lpadmin(["-p", "ticket", "-E", "-v", "socket://127.0.0.1:\(port)", "-m", "raw"])
    }

    deinit {
        if let p = ippeve.withLock({ $0 }) {
            kill(p.processIdentifier, SIGKILL)
            p.waitUntilExit()
        }
        if let bus = startedBus.withLock({ $0 }) {
            kill(bus.processIdentifier, SIGKILL)
            bus.waitUntilExit()
            try? FileManager.default.removeItem(atPath: "/run/dbus/system_bus_socket")
        }
        if cupsd.isRunning {
            kill(cupsd.processIdentifier, SIGKILL)
            cupsd.waitUntilExit()
        }
        // A socket backend still retrying for this printer outlives a killed cupsd: it goes too.
        _ = try? Self.run(["/usr/bin/pkill", "-KILL", "-f", "socket://127.0.0.1:\(port)"])
        printerOff()
        try? FileManager.default.removeItem(atPath: dir)
    }

    var captured: [UInt8] { (try? Data(contentsOf: URL(fileURLWithPath: capturePath))).map { Array($0) } ?? [] }

    /// Runs a CUPS command-line tool against this cupsd.
    @discardableResult
    func tool(_ arguments: [String]) throws -> String {
        let (status, output) = try Self.run(arguments, environment: ["CUPS_SERVER": socket])
        guard status == 0 else { throw Failure("\(arguments.joined(separator: " ")): \(output)") }
        return output
    }

    func lpadmin(_ arguments: [String]) throws { try tool(["/usr/sbin/lpadmin"] + arguments) }

    /// The ticket printer switched on: the listener accepts and keeps bytes.
    func printerOn() throws {
        let log = dir + "/capture.log"
        try? FileManager.default.removeItem(atPath: log)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/sh")
        p.arguments = ["-c", "exec python3 \"$0\" \"$1\" \"$2\" > \"$3\" 2>&1", repositoryRoot + "/Tests/peers/capture_printer.py", "\(port)", capturePath, log]
        p.standardInput = FileHandle.nullDevice
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        let deadline = Date().addingTimeInterval(10)
        while !((try? String(contentsOfFile: log, encoding: .utf8))?.contains("ready") ?? false) {
            guard p.isRunning, Date() < deadline else { throw Failure("capture listener did not start: \((try? String(contentsOfFile: log, encoding: .utf8)) ?? "")") }
            Thread.sleep(forTimeInterval: 0.01)
        }
        listener.withLock { $0 = p }
    }

    /// The ticket printer switched off: nothing listens on its port.
    func printerOff() {
        let p = listener.withLock { l -> Process? in
            defer { l = nil }
            return l
        }
        if let p {
            kill(p.processIdentifier, SIGKILL)
            p.waitUntilExit()
        }
    }

    /// An IPP Everywhere A4 printer: ippeveprinter (cups-ipp-utils) behind the queue
    /// `a4` (`lpadmin -m everywhere`). It keeps each job's document in `a4Spool`.
    func startA4() throws {
        if !FileManager.default.fileExists(atPath: "/run/dbus/system_bus_socket") {
            // ippeveprinter wants a D-Bus system bus (for DNS-SD); containers have none
            // running. It runs in the foreground as this peer's child (a forking
            // daemon would keep Process from seeing its parent exit) and stops with it.
            try? FileManager.default.createDirectory(atPath: "/run/dbus", withIntermediateDirectories: true)
            let bus = Process()
            bus.executableURL = URL(fileURLWithPath: "/usr/bin/dbus-daemon")
            bus.arguments = ["--system", "--nofork", "--nopidfile"]
            bus.standardInput = FileHandle.nullDevice
            bus.standardOutput = FileHandle.nullDevice
            bus.standardError = FileHandle.nullDevice
            try bus.run()
            startedBus.withLock { $0 = bus }
            for _ in 0..<200 where !FileManager.default.fileExists(atPath: "/run/dbus/system_bus_socket") { Thread.sleep(forTimeInterval: 0.01) }
        }
        try FileManager.default.createDirectory(atPath: a4Spool, withIntermediateDirectories: true)
        let ippPort = port + 1
        let log = dir + "/ippeve.log"
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/sh")
        p.arguments = [
            "-c", "exec /usr/sbin/ippeveprinter -r off -p \(ippPort) -n localhost -d \"$0\" -k -f application/pdf,image/pwg-raster,image/urf halld-a4 > \"$1\" 2>&1",
            a4Spool, log,
        ]
        p.standardInput = FileHandle.nullDevice
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        ippeve.withLock { $0 = p }
        let deadline = Date().addingTimeInterval(15)
        while true {
            if (try? lpadmin(["-p", "a4", "-E", "-v", "ipp://localhost:\(ippPort)/ipp/print", "-m", "everywhere"])) != nil { return }
            guard p.isRunning, Date() < deadline else { throw Failure("ippeveprinter did not start: \((try? String(contentsOfFile: log, encoding: .utf8)) ?? "")") }
            Thread.sleep(forTimeInterval: 0.2)
        }
    }

    /// Runs a program with its output in a file (no Pipe: see HalldCommandTests).
    static func run(_ arguments: [String], environment: [String: String] = [:]) throws -> (Int32, String) {
        let out = NSTemporaryDirectory() + "halld-run-\(UUID().uuidString.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: out) }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/sh")
        p.arguments = ["-c", "exec \"$@\" > \"\(out)\" 2>&1", "sh"] + arguments
        p.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        p.standardInput = FileHandle.nullDevice
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        p.waitUntilExit()
        return (p.terminationStatus, (try? String(contentsOfFile: out, encoding: .utf8)) ?? "")
    }
}
