import ArgumentParser
import Foundation
import HallAPIModels
import HallClient

struct Info: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show halld's version, socket, state folder and your role.")
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        try await reportingErrors {
            let info: InfoResponse = try await global.client.call("GET", "/v1/info")
            try global.show(info) { i in
                Output.table(
                    ["", ""],
                    [
                        ["version", i.version], ["uptime", "\(Int(i.uptimeSeconds)) s"], ["socket", i.socket], ["state", i.stateDir],
                        ["role", i.role.rawValue], ["last event", "\(i.lastEventSeq)"],
                    ])
            }
        }
    }
}

struct Devices: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List devices with their state and reasons.")
    @OptionGroup var global: GlobalOptions
    @Option(help: "Only this kind: scanner, printer, keypad, display.") var kind: String?

    func run() async throws {
        try await reportingErrors {
            let devices: [DeviceSummary] = try await global.client.call("GET", "/v1/devices" + (kind.map { "?kind=\($0)" } ?? ""))
            try global.show(devices) { list in
                Output.table(
                    ["ID", "KIND", "DRIVER", "STATE", "REASONS", "NAME"],
                    list.map { [$0.id.rawValue, $0.kind.rawValue, $0.driver, $0.state.rawValue, $0.reasons.isEmpty ? "-" : $0.reasons.joined(separator: ","), $0.name] })
            }
        }
    }
}

struct DeviceShow: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "device", abstract: "Show one device: identity, capabilities, counters, last error.")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "Device id.") var id: String

    func run() async throws {
        try await reportingErrors {
            let d: DeviceDetail = try await global.client.call("GET", "/v1/devices/\(id)")
            try global.show(d) { d in
                var rows: [[String]] = [
                    ["id", d.id.rawValue], ["name", d.name], ["kind", d.kind.rawValue], ["driver", d.driver], ["state", d.state.rawValue],
                    ["reasons", d.reasons.isEmpty ? "-" : d.reasons.joined(separator: ", ")],
                    ["vendor", d.identity.vendor ?? "-"], ["model", d.identity.model ?? "-"], ["serial", d.identity.serialNumber ?? "-"],
                    ["firmware", d.identity.firmware ?? "-"], ["connection", d.identity.connection ?? "-"],
                ]
                let caps = (try? JSONEncoder().encode(d.capabilities)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
                rows.append(["capabilities", caps])
                for (name, value) in d.counters.values.sorted(by: { $0.key < $1.key }) { rows.append(["counter \(name)", "\(value)"]) }
                if let e = d.lastError { rows.append(["last error", "\(e.at) \(e.code.rawValue): \(e.message)"]) }
                return Output.table(["", ""], rows)
            }
        }
    }
}

struct Health: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run a health check: internal (no motion), external (test pattern; technician), interactive (a person; technician).")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "Device id.") var id: String
    @Option(help: "internal, external or interactive.") var level: HealthLevel = .internal

    func run() async throws {
        try await reportingErrors {
            let client = global.client
            let check = Task { () async throws -> HealthReport in
                try await client.call("POST", "/v1/devices/\(id)/health", json: HealthCheckRequest(level: level))
            }
            if level == .interactive, let detail: DeviceDetail = try? await client.call("GET", "/v1/devices/\(id)") {
                if detail.kind == .keypad {
                    FileHandle.standardError.write(Data("press any rating key on \(id)…\n".utf8))
                } else if detail.kind == .display, isatty(STDIN_FILENO) == 1 {
                    try await confirmDisplay(client, check: check)
                }
            }
            let report = try await check.value
            try global.show(report) { $0.text }
            if !report.passed { throw ExitCode(3) }
        }
    }

    /// Asks the technician at this terminal whether the display shows its test line,
    /// and sends the answer (`hallctl confirm ID` does the same from another terminal).
    private func confirmDisplay(_ client: HallClient, check: Task<HealthReport, any Error>) async throws {
        var shown: [String] = []
        for _ in 0..<100 {
            if let c: DisplayContent = try? await client.call("GET", "/v1/displays/\(id)/content"), c.lines.first?.hasPrefix("显示测试") == true {
                shown = c.lines
                break
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        FileHandle.standardError.write(Data("\(id) should show:\n  \(shown.joined(separator: "\n  "))\nIs that what it shows, every character clear? [y/n] ".utf8))
        // The terminal is read on a thread of its own: a blocking read never holds the pool.
        let answer = await withCheckedContinuation { (c: CheckedContinuation<String?, Never>) in
            Thread { c.resume(returning: readLine()) }.start()
        }
        let passed = answer?.lowercased().hasPrefix("y") ?? false
        let _: HealthConfirmation = try await client.call(
            "POST", "/v1/devices/\(id)/health/confirm", json: HealthConfirmation(passed: passed, note: passed ? nil : "not confirmed at the terminal: \(answer ?? "no answer")"))
    }
}

struct Confirm: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Answer a display's interactive check: what the technician saw (technician).")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "Display id.") var id: String
    @Flag(help: "The test line was not shown right.") var failed = false
    @Option(help: "What was seen.") var note: String?

    func run() async throws {
        try await reportingErrors {
            let c: HealthConfirmation = try await global.client.call(
                "POST", "/v1/devices/\(id)/health/confirm", json: HealthConfirmation(passed: !failed, note: note))
            try global.show(c) { "\(id): \($0.passed ? "confirmed" : "reported wrong")" }
        }
    }
}

extension HealthLevel: ExpressibleByArgument {}
extension SimulatedFault: ExpressibleByArgument {}
extension DisplayEffect: ExpressibleByArgument {}
extension ScanSource: ExpressibleByArgument {}
extension ScanMode: ExpressibleByArgument {}

struct Reset: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Close and reopen a device (technician).")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "Device id.") var id: String

    func run() async throws {
        try await reportingErrors {
            let d: DeviceDetail = try await global.client.call("POST", "/v1/devices/\(id)/reset")
            try global.show(d) { "\($0.id): \($0.state.rawValue)\($0.reasons.isEmpty ? "" : " (" + $0.reasons.joined(separator: ", ") + ")")" }
        }
    }
}

struct Record: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Record a serial device's line traffic to a file under the state folder, or stop (technician).",
        discussion: "On a shared RS-485 bus the recording holds every device on the port. Tests replay such files.")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "Device id.") var id: String
    @Option(help: "How long to record (1-86400 seconds).") var seconds = 600
    @Flag(help: "Stop the running recording.") var stop = false

    func run() async throws {
        try await reportingErrors {
            if stop {
                let r: RecordingResponse = try await global.client.call("DELETE", "/v1/devices/\(id)/recording")
                try global.show(r) { "\($0.device): stopped, \($0.chunks ?? 0) chunks in \($0.file)" }
            } else {
                let r: RecordingResponse = try await global.client.call("POST", "/v1/devices/\(id)/recording", json: RecordingRequest(seconds: seconds))
                try global.show(r) { "\($0.device): recording \($0.seconds ?? seconds) s to \($0.file)" }
            }
        }
    }
}

struct Fault: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Inject a fault into a simulated device (technician).")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "Device id.") var id: String
    @Argument(help: "jam, coverOpen, paperOut, timeout, garbled, unplug, replug, clear.") var fault: SimulatedFault

    func run() async throws {
        try await reportingErrors {
            let d: DeviceDetail = try await global.client.call("POST", "/v1/devices/\(id)/faults", json: FaultRequest(fault: fault))
            try global.show(d) { "\($0.id): \($0.state.rawValue)\($0.reasons.isEmpty ? "" : " (" + $0.reasons.joined(separator: ", ") + ")")" }
        }
    }
}

struct Display: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show lines of text on a display (one argument a line).")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "Display id.") var id: String
    @Argument(help: "The lines, e.g. 'A012 请到3号窗口'.") var lines: [String]
    @Option(help: "static, scroll or flash.") var effect: DisplayEffect = .static
    @Option(help: "Seconds to show (default: until replaced).") var seconds: Int?

    func run() async throws {
        try await reportingErrors {
            let shown: DisplayContent = try await global.client.call("PUT", "/v1/displays/\(id)/content", json: DisplayContent(lines: lines, effect: effect, seconds: seconds))
            try global.show(shown) { "\(id) shows (\($0.effect.rawValue)): " + $0.lines.joined(separator: " / ") }
        }
    }
}
