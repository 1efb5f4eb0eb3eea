import ArgumentParser
import Foundation
import Simulators
import WireProtocols

/// hall-sim: simulated hall-bus devices on a pseudo-terminal, for a person or a
/// test to drive the real serial drivers end to end.
@main
struct HallSim: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hall-sim",
        abstract: "Run simulated hall-bus evaluators and displays on a pseudo-terminal.",
        discussion: """
            Creates a pty and a symlink to it at --link (point halld's `port` there), prints the
            device path, then reads commands from standard input:
              press ADDR KEY      rating key KEY (1 = first) on the evaluator at ADDR
              key ADDR NAME       caller key: call, recall, cancel, confirm, pause, transfer, evaluate
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
    var keypad: [UInt8] = []

    @Option(help: "Address of a display; repeat for more.")
    var display: [UInt8] = []

    func run() throws {
        let simulator = HallBusSimulator()
        for a in keypad { simulator.add(.keypad, address: a) }
        for a in display { simulator.add(.display, address: a) }
        if keypad.isEmpty && display.isEmpty {
            simulator.add(.keypad, address: 1)
            simulator.add(.display, address: 2)
        }
        let peer = try PtyPeer(path: link) { simulator.respond(to: $0) }
        say("hall-sim: \(link) -> \(peer.devicePath ?? "?") (9600 8N1, hall-bus)")
        for (address, kind) in simulator.addresses { say("  address \(address): \(kind.rawValue)") }
        let callerKeys: [String: HallBus.DeviceCommand] = [
            "call": .call, "recall": .recall, "cancel": .cancel, "confirm": .confirm, "pause": .pause, "transfer": .transfer, "evaluate": .requestEvaluation,
        ]
        while let line = readLine() {
            let words = line.split(separator: " ").map(String.init)
            guard let command = words.first else { continue }
            let address = words.count > 1 ? UInt8(words[1]) : nil
            switch (command, address) {
            case ("press", let a?) where words.count > 2:
                let ok = simulator.pressRating(address: a, key: UInt8(words[2]) ?? 0)
                say(ok ? "pressed key \(words[2]) on \(a)" : "evaluator \(a) is not waiting for a rating: key ignored")
            case ("key", let a?) where words.count > 2:
                if let key = callerKeys[words[2]] { simulator.pressCaller(address: a, key); say("\(words[2]) on \(a)") } else { say("unknown key \(words[2])") }
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
                if let shown = simulator.shown(address: a) { say("effect \(shown.effect): \(shown.lines.joined(separator: " / "))") } else { say("nothing shown") }
            case ("quit", _):
                return
            default:
                say("? \(line)")
            }
        }
        peer.hangUp()
    }

    func say(_ s: String) {
        FileHandle.standardOutput.write(Data((s + "\n").utf8))
    }
}
