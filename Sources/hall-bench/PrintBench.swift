import ChildProcess
import Foundation
import HallConfiguration
import Subprocess
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
        guard try await runCommand(["/bin/bash", root + "/Tests/peers/cups_peer.sh", "configure", dir]).output.contains("configured") else {
            throw BenchError("cups_peer.sh configure failed")
        }
        let cupsd = try await Child.start(["/usr/sbin/cupsd", "-f", "-c", dir + "/cupsd.conf", "-s", dir + "/cups-files.conf"])
        let port = Int.random(in: 40_001...50_000)
        var listener: Child?
        do {
            let rows = try await measure(root: root, dir: dir, port: port) { listener = $0 }
            await stop(cupsd: cupsd, listener: listener, port: port)
            return rows
        } catch {
            await stop(cupsd: cupsd, listener: listener, port: port)
            throw error
        }
    }

    private func stop(cupsd: Child, listener: Child?, port: Int) async {
        await cupsd.stop(signal: SIGKILL)
        await listener?.stop(signal: SIGKILL)
        // The socket backends our cupsd started for this printer die with it.
        _ = try? await runCommand(["/usr/bin/pkill", "-KILL", "-f", "socket://127.0.0.1:\(port)"])
    }

    private func measure(root: String, dir: String, port: Int, started: (Child) -> Void) async throws -> [Row] {
        let env = ["CUPS_SERVER": dir + "/cups.sock"]
        for _ in 0..<200 where !(try await runCommand(["/usr/bin/lpstat", "-r"], environment: env).output.contains("is running")) {
            try await Task.sleep(for: .milliseconds(50))
        }
        let listener = try await Child.start(["/usr/bin/python3", root + "/Tests/peers/capture_printer.py", "\(port)", dir + "/captured.bin"])
        started(listener)
        try await listener.waitForOutput("ready", within: .seconds(10))
        _ = try await runCommand(["/usr/sbin/lpadmin", "-p", "ticket", "-E", "-v", "socket://127.0.0.1:\(port)", "-m", "raw"], environment: env)

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
                // exec to exit, its output thrown away, awaited (not waited for on a thread)
                let lp = try await Subprocess.run(
                    .path("/usr/bin/lp"), arguments: ["-d", "ticket", "-o", "raw", bytesFile], environment: .inherit.updating(["CUPS_SERVER": env["CUPS_SERVER"]]),
                    output: .discarded, error: .discarded)
                lpTimes.append(ms(ContinuousClock.now - t0))
                guard lp.terminationStatus.isSuccess else { throw BenchError("lp failed: \(lp.terminationStatus)") }

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
}
