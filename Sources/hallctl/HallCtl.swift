import ArgumentParser
import Foundation
import HallAPIModels
import HallClient

/// hallctl: halld's command-line client, for technicians and scripts.
@main
struct HallCtl: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hallctl",
        abstract: "Talk to halld: devices, health checks, displays, ratings, jobs and events.",
        discussion: """
            Tables for people, --json for scripts. Exit status is non-zero with the error's message on failure.
            --socket and --json may come before the verb (hallctl --socket /run/halld/halld.sock devices) or after it.
            """,
        subcommands: [
            Info.self, Devices.self, DeviceShow.self, Health.self, Confirm.self, Reset.self, Record.self, Fault.self, Display.self, Say.self, Announcements.self, VoiceCommand.self, Rate.self, Press.self,
            Print.self, TicketPrint.self, PrintJobs.self, Reprint.self, Scan.self, Events.self, TicketCommand.self, WindowCommand.self, ClerkCommand.self, LedgerCommand.self, FollowUpCommand.self, AppointmentCommand.self, ServicesCommand.self, NoticeCommand.self, Stats.self, BridgeCommand.self, BridgeCommand.Console.self, UdevRules.self, Doctor.self, Diag.self,
        ])

    /// `hallctl --socket PATH VERB …` as well as `hallctl VERB … --socket PATH`: the
    /// global options given before the verb are handed to the verb.
    static func main() async {
        await main(hoistingGlobalOptions(Array(CommandLine.arguments.dropFirst())))
    }

    /// Moves `--socket PATH`, `--socket=PATH` and `--json` that come before the verb to
    /// the end of the verb's arguments (before a `--`, if there is one).
    static func hoistingGlobalOptions(_ arguments: [String]) -> [String] {
        var leading: [String] = []
        var rest = arguments[...]
        while let first = rest.first {
            if first == "--socket", rest.count >= 2 {
                leading += rest.prefix(2)
                rest = rest.dropFirst(2)
            } else if first.hasPrefix("--socket=") || first == "--json" {
                leading.append(first)
                rest = rest.dropFirst()
            } else {
                break
            }
        }
        guard !leading.isEmpty, !rest.isEmpty else { return arguments }
        var hoisted = Array(rest)
        let end = hoisted.firstIndex(of: "--") ?? hoisted.endIndex
        hoisted.insert(contentsOf: leading, at: end)
        return hoisted
    }
}

struct GlobalOptions: ParsableArguments {
    @Option(help: "halld's socket (default: $HALLD_SOCKET or /run/halld/halld.sock).")
    var socket: String?

    @Flag(help: "Print JSON instead of tables.")
    var json = false

    var client: HallClient { HallClient(socketPath: socket ?? HallClient.defaultSocket()) }

    /// A listing route (`path` with `query`) read as JSON, or, with `csv`, its CSV
    /// answer written to standard output as it came (nil then). An error answer is thrown.
    func listing<T: Decodable>(_ path: String, query: [String], csv: Bool, as type: T.Type = T.self) async throws -> T? {
        let query = query + (csv ? ["format=csv"] : [])
        let path = path + (query.isEmpty ? "" : "?" + query.joined(separator: "&"))
        guard csv else { return try await client.call("GET", path) }
        let reply = try await client.send("GET", path)
        guard reply.status == 200 else {
            _ = try HallClient.decode(reply, as: JSONValue.self)
            return nil
        }
        FileHandle.standardOutput.write(Data(reply.text.utf8))
        return nil
    }

    /// Prints `value` as JSON (for --json) or as the table `human` gives.
    func show<T: Encodable>(_ value: T, human: (T) -> String) throws {
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            Output.line(String(decoding: try encoder.encode(value), as: UTF8.self))
        } else {
            Output.line(human(value))
        }
    }
}

enum Output {
    static func line(_ s: String) {
        FileHandle.standardOutput.write(Data((s.hasSuffix("\n") ? s : s + "\n").utf8))
    }

    /// Columns padded to the widest cell, CJK counted two wide; no header line when `header` is empty.
    static func table(_ header: [String], _ rows: [[String]]) -> String {
        let all = (header.allSatisfy(\.isEmpty) ? [] : [header]) + rows
        guard let first = all.first else { return "" }
        let header = first
        let widths = header.indices.map { i in all.map { displayColumns($0[i]) }.max() ?? 0 }
        return all.map { row in
            row.enumerated().map { i, cell in
                i == row.count - 1 ? cell : cell + String(repeating: " ", count: widths[i] - displayColumns(cell))
            }.joined(separator: "  ")
        }.joined(separator: "\n")
    }
}

/// Errors reach the user as `hallctl: message` with exit status 1.
func reportingErrors(_ body: () async throws -> Void) async throws {
    do {
        try await body()
    } catch let e as HallClientError {
        FileHandle.standardError.write(Data("hallctl: \(e.message)\n".utf8))
        throw ExitCode(e.status == 404 ? 2 : 1)
    }
}
