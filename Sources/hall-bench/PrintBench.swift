import Foundation
import HallAPIModels
import HallClient
import HallDaemon
import Logging
import WireProtocols

#if canImport(Glibc)
import Glibc
#endif

/// Ticket print latency: from the API request to the job accepted by a private
/// cupsd (halld's job has CUPS's job id), against `lp -d ticket` of the same
/// bytes (from exec to lp's exit, which is when CUPS has accepted the job).
struct PrintBench {
    let rounds: Int
    let samples = 40

    func run() async throws -> [Row] {
        let dir = NSTemporaryDirectory() + "hall-bench-cups-\(getpid())"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        chmod(dir, 0o755)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
        guard try shell(["/bin/bash", root + "/Tests/peers/cups_peer.sh", "configure", dir]).contains("configured") else { throw BenchError("cups_peer.sh configure failed") }
        let cupsd = try spawn(["/usr/sbin/cupsd", "-f", "-c", dir + "/cupsd.conf", "-s", dir + "/cups-files.conf"])
        defer {
            kill(cupsd.processIdentifier, SIGKILL)
            cupsd.waitUntilExit()
        }
        let env = ["CUPS_SERVER": dir + "/cups.sock"]
        for _ in 0..<200 where !(try shell(["/usr/bin/lpstat", "-r"], env: env)).contains("is running") { usleep(50_000) }
        let port = Int.random(in: 40_001...50_000)
        let listener = try spawn(["/usr/bin/python3", root + "/Tests/peers/capture_printer.py", "\(port)", dir + "/captured.bin"])
        defer {
            kill(listener.processIdentifier, SIGKILL)
            // The socket backends our cupsd started for this printer die with it.
            _ = try? shell(["/usr/bin/pkill", "-KILL", "-f", "socket://127.0.0.1:\(port)"])
        }
        usleep(300_000)
        _ = try shell(["/usr/sbin/lpadmin", "-p", "ticket", "-E", "-v", "socket://127.0.0.1:\(port)", "-m", "raw"], env: env)

        var config = HallConfig()
        config.socket = dir + "/halld.sock"
        config.stateDir = dir + "/state"
        config.logLevel = "critical"
        config.devices = try HallConfig.parse(
            """
            [[device]]
            id = "ticket-printer"
            kind = "printer"
            driver = "cups"
            queue = "ticket"
            server = "\(dir)/cups.sock"
            """, file: "bench.toml"
        ).devices
        let layout = config.devices[0].ticketLayout ?? TicketLayout()
        let ticket = TicketContent(number: "A012", service: "社会保障", hall: "城关镇便民服务中心", waitingAhead: 5, time: "2026-11-29 09:30", notice: "请到3号窗口办理")
        let bytesFile = dir + "/ticket.bin"
        try Data(try layout.render(TicketFields(ticket.values))).write(to: URL(fileURLWithPath: bytesFile))

        let daemon = await BenchDaemon.start(config)
        let client = daemon.client

        var lpTimes: [Double] = []
        var apiTimes: [Double] = []
        for _ in 0..<rounds {
            for _ in 0..<(samples / rounds) {
                let t0 = ContinuousClock.now
                let lp = try spawn(["/usr/bin/lp", "-d", "ticket", "-o", "raw", bytesFile], env: env)
                lp.waitUntilExit()
                lpTimes.append(ms(ContinuousClock.now - t0))
                guard lp.terminationStatus == 0 else { throw BenchError("lp failed") }

                let t1 = ContinuousClock.now
                var job: Job = try await client.call("POST", "/v1/printers/ticket-printer/jobs", json: TicketPrintRequest(ticket: ticket))
                while job.print?.deviceJob == nil && !job.state.isFinal {
                    job = try await client.call("GET", "/v1/print-jobs/\(job.id)")
                }
                apiTimes.append(ms(ContinuousClock.now - t1))
                guard job.state != .failed else { throw BenchError("print job failed: \(job.error?.message ?? "")") }
            }
        }
        await daemon.stop()
        let (b, h) = (median(lpTimes), median(apiTimes))
        return [
            Row(
                name: "ticket print: request to job accepted by cupsd (median)", unit: "ms", baseline: b, halld: h, higherIsBetter: false,
                target: "faster than lp (ratio < 1)", met: h < b,
                note: "baseline: `lp -d ticket -o raw` of the same rendered ticket bytes, exec to exit; halld: POST /v1/printers/ticket-printer/jobs with {\"ticket\"} over the Unix socket (render, record in SQLite, Create-Job + Send-Document through libcups) until GET shows CUPS's job id. \(samples) samples each, interleaved.")
        ]
    }

    func ms(_ d: Duration) -> Double { Double(d.components.seconds) * 1000 + Double(d.components.attoseconds) / 1e15 }

    func spawn(_ argv: [String], env: [String: String] = [:]) throws -> Process {
        let p = Process()
        if !env.isEmpty { p.environment = ProcessInfo.processInfo.environment.merging(env) { $1 } }
        p.executableURL = URL(fileURLWithPath: argv[0])
        p.arguments = Array(argv.dropFirst())
        p.standardInput = FileHandle.nullDevice
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        return p
    }

    /// Runs a short command; its output in a file (no Pipe).
    func shell(_ argv: [String], env: [String: String] = [:]) throws -> String {
        let out = NSTemporaryDirectory() + "hall-bench-out-\(getpid())"
        defer { try? FileManager.default.removeItem(atPath: out) }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/sh")
        p.arguments = ["-c", "exec \"$@\" > \"\(out)\" 2>&1", "sh"] + argv
        p.environment = ProcessInfo.processInfo.environment.merging(env) { $1 }
        p.standardInput = FileHandle.nullDevice
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        p.waitUntilExit()
        return (try? String(contentsOfFile: out, encoding: .utf8)) ?? ""
    }
}
