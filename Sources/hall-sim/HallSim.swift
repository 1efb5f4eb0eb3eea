import ArgumentParser
import Foundation
import HallConfiguration
import Simulators
import WireProtocols

/// hall-sim: simulated hall-bus, profile or Modbus RTU devices on a
/// pseudo-terminal, for a person or a test to drive the real serial drivers end to end.
@main
struct HallSim: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hall-sim",
        abstract: "Run simulated hall-bus, profile or Modbus evaluators and displays on a pseudo-terminal.",
        discussion: """
            Creates a pty and a symlink to it at --link (point halld's `port` there), prints the
            device path, then reads commands from standard input. The devices speak hall-bus, the
            [[profile]] named by --profile in the halld configuration --config, or Modbus RTU
            (--protocol modbus, the Modbus drivers' default register maps).
              press ADDR KEY      rating key KEY (1 = first) on the evaluator at ADDR
              key ADDR NAME       caller key named in the profile (hall-bus: call, recall, cancel,
                                  confirm, pause, transfer, requestEvaluation)
              silent ADDR         stop answering        answer ADDR   answer again
              garbage [HEX]       write noise onto the line
              hangup              close the pty (the adapter pulled)
              plug                a new pty behind the same link
              show ADDR           what the display at ADDR shows
              quit                (or end of input) remove the link and stop
            """)

    enum WireProtocol: String, ExpressibleByArgument { case frames, modbus }

    @Option(help: "Symlink to create for the pty (the port halld opens).")
    var link: String

    @Option(help: "Address (Modbus unit id) of an evaluator; repeat for more.")
    var keypad: [UInt16] = []

    @Option(help: "Address (Modbus unit id) of a display; repeat for more.")
    var display: [UInt16] = []

    @Option(name: .customLong("protocol"), help: "frames (hall-bus or --profile) or modbus.")
    var wire: WireProtocol = .frames

    @Option(help: "halld configuration holding the [[profile]] table.")
    var config: String?

    @Option(help: "Name of the frame profile the devices speak (default hallbus).")
    var profile = "hallbus"

    func validate() throws {
        if wire == .modbus, (keypad + display).contains(where: { $0 > 247 }) { throw ValidationError("Modbus unit ids are 1-247") }
    }

    func run() throws {
        let (keypads, displays) = keypad.isEmpty && display.isEmpty ? ([UInt16(1)], [UInt16(2)]) : (keypad, display)
        let bus: SimulatedBus
        let peer: PtyPeer
        switch wire {
        case .frames:
            let chosen = try chosenProfile()
            let simulator = FrameBusSimulator(profile: chosen.frame, commands: chosen.commands)
            keypads.forEach { simulator.add(.keypad, address: $0) }
            displays.forEach { simulator.add(.display, address: $0) }
            bus = .frames(simulator)
            peer = try PtyPeer(path: link, profile: chosen.frame) { simulator.respond(to: $0) }
        case .modbus:
            let simulator = ModbusBusSimulator()
            keypads.forEach { simulator.add(.keypad, unit: UInt8($0)) }
            displays.forEach { simulator.add(.display, unit: UInt8($0)) }
            bus = .modbus(simulator)
            peer = try PtyPeer(path: link) { simulator.responder() }
        }
        // The link goes with hall-sim, so halld sees the port gone, not a dead pty.
        defer {
            peer.hangUpBlocking()
            unlink(link)
        }
        say("hall-sim: \(link) -> \(peer.devicePath ?? "?") (\(bus.name))")
        for (address, kind) in bus.units { say("  address \(address): \(kind)") }
        while let line = readLine() {
            let words = line.split(separator: " ").map(String.init)
            guard let command = words.first else { continue }
            let address = words.count > 1 ? UInt16(words[1]) : nil
            switch (command, address) {
            case ("press", let a?) where words.count > 2:
                let ok = bus.press(a, key: UInt16(words[2]) ?? 0)
                say(ok ? "pressed key \(words[2]) on \(a)" : "evaluator \(a) is not waiting for a rating: key ignored")
            case ("key", let a?) where words.count > 2:
                say(bus.caller(a, words[2]) ? "\(words[2]) on \(a)" : "no key \(words[2]) at \(a) (keys: \(bus.keyNames.joined(separator: ", ")))")
            case ("silent", let a?):
                bus.silent(a, true)
                say("\(a) stopped answering")
            case ("answer", let a?):
                bus.silent(a, false)
                say("\(a) answers again")
            case ("garbage", _):
                let bytes = words.count > 1 ? parseHex(words.dropFirst().joined()) ?? [] : (0..<16).map { _ in UInt8.random(in: 0...255) }
                peer.send(bytes)
                say("sent \(hex(bytes))")
            case ("hangup", _):
                peer.hangUpBlocking()
                say("hung up")
            case ("plug", _):
                try peer.plug()
                say("\(link) -> \(peer.devicePath ?? "?")")
            case ("show", let a?):
                say(bus.shown(a) ?? "nothing shown")
            case ("quit", _):
                return
            default:
                say("? \(line)")
            }
        }
    }

    func chosenProfile() throws -> ProfileConfig {
        guard profile != "hallbus" else { return .hallBus }
        guard let config else { throw ValidationError("--profile \(profile) needs --config FILE with its [[profile]] table") }
        let loaded = try HallConfig.load(file: config)
        guard let p = loaded.profiles[profile] else {
            throw ValidationError("\(config) has no [[profile]] named \(profile) (it has: \(loaded.profiles.keys.sorted().joined(separator: ", ")))")
        }
        return p
    }

    func say(_ s: String) {
        FileHandle.standardOutput.write(Data((s + "\n").utf8))
    }
}

/// The simulated devices on the pty, whatever their protocol.
enum SimulatedBus {
    case frames(FrameBusSimulator)
    case modbus(ModbusBusSimulator)

    var name: String {
        switch self {
        case .frames(let s): "profile \(s.profile.name)"
        case .modbus: "Modbus RTU 9600 8N1"
        }
    }

    var units: [(UInt16, String)] {
        switch self {
        case .frames(let s): s.addresses.map { ($0.0, $0.1.rawValue) }
        case .modbus(let s): s.unitIDs.map { (UInt16($0.0), $0.1.rawValue) }
        }
    }

    var keyNames: [String] {
        switch self {
        case .frames(let s): s.commands.keys.keys.sorted()
        case .modbus: []
        }
    }

    func press(_ a: UInt16, key: UInt16) -> Bool {
        switch self {
        case .frames(let s): s.pressRating(address: a, key: UInt8(truncatingIfNeeded: key))
        case .modbus(let s): s.pressRating(unit: UInt8(truncatingIfNeeded: a), key: key)
        }
    }

    func caller(_ a: UInt16, _ key: String) -> Bool {
        switch self {
        case .frames(let s): s.pressCaller(address: a, key)
        case .modbus: false
        }
    }

    func silent(_ a: UInt16, _ on: Bool) {
        switch self {
        case .frames(let s): s.setSilent(address: a, on)
        case .modbus(let s): s.setSilent(unit: UInt8(truncatingIfNeeded: a), on)
        }
    }

    func shown(_ a: UInt16) -> String? {
        switch self {
        case .frames(let s): s.shown(address: a).map { "effect \($0.effect.map(String.init) ?? "-"): \($0.lines.joined(separator: " / "))" }
        case .modbus(let s): s.shown(unit: UInt8(truncatingIfNeeded: a)).map { "effect \($0.effect): \($0.lines.joined(separator: " / "))" }
        }
    }
}
