import ArgumentParser
import Foundation
import HallDaemon
import Simulators
import WireProtocols

/// hall-sim: simulated hall-bus or profile devices on a pseudo-terminal, for a
/// person or a test to drive the real serial drivers end to end.
@main
struct HallSim: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hall-sim",
        abstract: "Run simulated hall-bus or profile evaluators and displays on a pseudo-terminal.",
        discussion: """
            Creates a pty and a symlink to it at --link (point halld's `port` there), prints the
            device path, then reads commands from standard input. The devices speak hall-bus, or
            the [[profile]] named by --profile in the halld configuration --config.
              press ADDR KEY      rating key KEY (1 = first) on the evaluator at ADDR
              key ADDR NAME       caller key named in the profile (hall-bus: call, recall, cancel,
                                  confirm, pause, transfer, requestEvaluation)
              silent ADDR         stop answering        answer ADDR   answer again
              garbage [HEX]       write noise onto the line
              hangup              close the pty (the adapter pulled)
              plug                a new pty behind the same link
              show ADDR           what the display at ADDR shows
              quit
            """)

    @Option(help: "Symlink to create for the pty (the port halld opens).")
    var link: String

    @Option(help: "Address of an evaluator; repeat for more.")
    var keypad: [UInt16] = []

    @Option(help: "Address of a display; repeat for more.")
    var display: [UInt16] = []

    @Option(help: "halld configuration holding the [[profile]] table.")
    var config: String?

    @Option(help: "Name of the frame profile the devices speak (default hallbus).")
    var profile = "hallbus"

    func run() throws {
        var chosen = ProfileConfig.hallBus
        if profile != "hallbus" {
            guard let config else { throw ValidationError("--profile \(profile) needs --config FILE with its [[profile]] table") }
            let loaded = try HallConfig.load(file: config)
            guard let p = loaded.profiles[profile] else {
                throw ValidationError("\(config) has no [[profile]] named \(profile) (it has: \(loaded.profiles.keys.sorted().joined(separator: ", ")))")
            }
            chosen = p
        }
        let simulator = FrameBusSimulator(profile: chosen.frame, commands: chosen.commands)
        for a in keypad { simulator.add(.keypad, address: a) }
        for a in display { simulator.add(.display, address: a) }
        if keypad.isEmpty && display.isEmpty {
            simulator.add(.keypad, address: 1)
            simulator.add(.display, address: 2)
        }
        let peer = try PtyPeer(path: link, profile: chosen.frame) { simulator.respond(to: $0) }
        // The link goes with hall-sim, so halld sees the port gone, not a dead pty.
        defer {
            peer.hangUp()
            unlink(link)
        }
        say("hall-sim: \(link) -> \(peer.devicePath ?? "?") (profile \(chosen.frame.name))")
        for (address, kind) in simulator.addresses { say("  address \(address): \(kind.rawValue)") }
        while let line = readLine() {
            let words = line.split(separator: " ").map(String.init)
            guard let command = words.first else { continue }
            let address = words.count > 1 ? UInt16(words[1]) : nil
            switch (command, address) {
            case ("press", let a?) where words.count > 2:
                let ok = simulator.pressRating(address: a, key: UInt8(words[2]) ?? 0)
                say(ok ? "pressed key \(words[2]) on \(a)" : "evaluator \(a) is not waiting for a rating: key ignored")
            case ("key", let a?) where words.count > 2:
                if simulator.pressCaller(address: a, words[2]) {
                    say("\(words[2]) on \(a)")
                } else {
                    say("no key \(words[2]) at \(a) (keys: \(chosen.commands.keys.keys.sorted().joined(separator: ", ")))")
                }
            case ("silent", let a?):
                simulator.setSilent(address: a, true)
                say("\(a) stopped answering")
            case ("answer", let a?):
                simulator.setSilent(address: a, false)
                say("\(a) answers again")
            case ("garbage", _):
                let bytes = words.count > 1 ? parseHex(words.dropFirst().joined()) ?? [] : (0..<16).map { _ in UInt8.random(in: 0...255) }
                peer.send(bytes)
                say("sent \(hex(bytes))")
            case ("hangup", _):
                peer.hangUp()
                say("hung up")
            case ("plug", _):
                try peer.plug()
                say("\(link) -> \(peer.devicePath ?? "?")")
            case ("show", let a?):
                if let shown = simulator.shown(address: a) { say("effect \(shown.effect.map(String.init) ?? "-"): \(shown.lines.joined(separator: " / "))") } else { say("nothing shown") }
            case ("quit", _):
                return
            default:
                say("? \(line)")
            }
        }
    }

    func say(_ s: String) {
        FileHandle.standardOutput.write(Data((s + "\n").utf8))
    }
}
