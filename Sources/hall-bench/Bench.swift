import ArgumentParser
import Foundation
import HallConfiguration

/// hall-bench: halld's paths measured against baselines in the same run, written
/// to BENCHMARKS.md. Every figure is a ratio to a baseline measured moments
/// before or after it, because these machines are noisy.
@main
struct HallBenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hall-bench", abstract: "halld's benchmarks (BENCHMARKS.md) and its load and crash runs (RELIABILITY.md).",
        subcommands: [HallBench.self, Soak.self, Crash.self], defaultSubcommand: HallBench.self)
}

struct HallBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "measure", abstract: "Measure halld against its baselines and write BENCHMARKS.md.")

    @Option(help: "Seconds each measurement runs.") var seconds = 2.0
    @Option(help: "Rounds: baseline and halld alternate this many times; the median is reported.") var rounds = 3
    @Option(help: "Where to write the report.") var out = "BENCHMARKS.md"
    @Option(help: "The command line shown in the report.") var command = "make bench"
    @Option(help: "Only some rows, comma-separated (api, fanout, serial, tickets, postgresql, voice, print, scan, soak), printed, BENCHMARKS.md left alone.") var only: String?

    func run() async throws {
        var rows: [Row] = []
        let groups = only.map { Set($0.split(separator: ",").map(String.init)) }
        let known: Set<String> = ["api", "fanout", "serial", "tickets", "postgresql", "voice", "print", "scan", "soak"]
        if let unknown = groups?.subtracting(known).sorted().first {
            throw ValidationError("--only \(unknown): one of \(known.sorted().joined(separator: ", ")), comma-separated")
        }
        func wanted(_ group: String) -> Bool { groups?.contains(group) ?? true }
        let halld = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent().appendingPathComponent("halld").path
        // A group whose peer or program is missing here is left out, saying why.
        func measure(_ group: String, _ what: String, _ body: () async throws -> [Row]) async {
            guard wanted(group) else { return }
            do {
                rows += try await body()
            } catch {
                FileHandle.standardError.write(Data("hall-bench: \(what) skipped: \(error)\n".utf8))
            }
        }
        await measure("api", "API") { try await ApiBench(seconds: seconds, halld: halld).run() }
        await measure("fanout", "fan-out") { try await FanOutBench().run() }
        if wanted("serial") { rows += try await SerialBench(seconds: seconds, rounds: rounds).run() }
        if wanted("tickets") { rows += try await TicketBench(seconds: seconds, rounds: rounds).run() }
        await measure("postgresql", "PostgreSQL store") {
            guard let url = ProcessInfo.processInfo.environment["HALLD_BENCH_POSTGRES"], !url.isEmpty else {
                throw BenchError("HALLD_BENCH_POSTGRES is not set (make bench starts a server)")
            }
            return try await SharedHallBench(url: url, seconds: seconds, rounds: rounds).run()
        }
        await measure("voice", "voice") { try await VoiceBench(rounds: rounds).run() }
        await measure("print", "ticket print") { try await PrintBench(rounds: rounds).run() }
        await measure("scan", "scan") { try await ScanBench(rounds: rounds).run() }
        await measure("soak", "soak") { try await onThread { try Soak.rows(halld: halld, seconds: 30) } }
        if only != nil {
            FileHandle.standardOutput.write(Data(Report(command: command, rows: rows).markdown.utf8))
            return
        }
        let report = Report(command: command, rows: rows)
        // The instruction counts are measured by another command (scripts/instructions.sh,
        // under valgrind): their section of the file is kept as it is.
        let previous = (try? String(contentsOfFile: out, encoding: .utf8)) ?? ""
        let kept = previous.range(of: Report.instructionsHeading).map { String(previous[$0.lowerBound...]) }
        let text = report.markdown + (kept.map { "\n" + $0 } ?? "")
        try text.write(toFile: out, atomically: true, encoding: .utf8)
        FileHandle.standardOutput.write(Data(report.markdown.utf8))
    }
}

/// One row of the report: what was measured, the baseline, halld, and the target.
struct Row {
    var name: String
    var unit: String
    var baseline: Double
    var halld: Double
    /// Higher is better (throughput) or lower is better (latency).
    var higherIsBetter: Bool
    /// The target as text, and whether halld reached it.
    var target: String
    var met: Bool
    var note: String = ""

    /// halld relative to the baseline: throughput halld/baseline, latency halld/baseline.
    var ratio: Double { halld / baseline }
}

struct Report {
    var command: String
    var rows: [Row]

    /// Where BENCHMARKS.md's hand-kept section of instruction counts begins.
    static let instructionsHeading = "## Instructions per request"

    var markdown: String {
        var s = """
            # Benchmarks

            Produced by `\(command)` (release build) on \(ProcessInfo.processInfo.activeProcessorCount) cores, \
            \(Date().ISO8601Format()). Each row alternates the baseline and halld in the same run and reports medians; \
            the ratio is halld / baseline.

            | measurement | baseline | halld | ratio | target | met |
            |---|---|---|---|---|---|

            """
        for r in rows {
            s += "| \(r.name) | \(fmt(r.baseline)) \(r.unit) | \(fmt(r.halld)) \(r.unit) | \(String(format: "%.2f", r.ratio)) | \(r.target) | \(r.met ? "yes" : "**no**") |\n"
        }
        let notes = rows.filter { !$0.note.isEmpty }
        if !notes.isEmpty {
            s += "\n## Notes\n\n"
            for r in notes { s += "- **\(r.name)**: \(r.note)\n" }
        }
        return s
    }

    func fmt(_ v: Double) -> String { v >= 100 ? String(format: "%.0f", v) : String(format: "%.3g", v) }
}

func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    return sorted.isEmpty ? 0 : sorted[sorted.count / 2]
}

/// A daemon running in this process for a benchmark, stopped with `stop()`.
struct BenchDaemon {
    let client: HallClient
    private let handle: Daemon.Handle?
    private let task: Task<Void, any Error>

    static var quietLogger: Logger {
        var logger = Logger(label: "hall-bench")
        logger.logLevel = ProcessInfo.processInfo.environment["HALL_BENCH_LOG"].flatMap(Logger.Level.init(rawValue:)) ?? .critical
        return logger
    }

    static func start(_ config: HallConfig) async -> BenchDaemon {
        let daemon = Daemon(config: config, logger: quietLogger)
        let (ready, feed) = AsyncStream.makeStream(of: Daemon.Handle.self)
        let task = Task { try await daemon.run(onReady: { feed.yield($0) }) }
        var handle: Daemon.Handle?
        for await h in ready {
            handle = h
            break
        }
        return BenchDaemon(client: HallClient(socketPath: config.socket), handle: handle, task: task)
    }

    func stop() async {
        await handle?.shutdown()
        _ = try? await task.value
    }
}

import HallClient
import HallDaemon
import Logging

/// Runs blocking work (socket round trips, loops of threads) on a thread of its own;
/// the calling task suspends, the cooperative pool stays free for in-process daemons.
func onThread<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread { continuation.resume(with: Result { try work() }) }.start()
    }
}
