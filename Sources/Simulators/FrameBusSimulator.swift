import DeviceKit
import Synchronization
import WireProtocols

/// Evaluators and displays on one serial bus as the hardware behaves, in any frame
/// profile (hall-bus by default), for hall-sim and the tests: answers polls,
/// lights up on the evaluate command, reports one rating key per evaluation,
/// keeps what the show command showed, and can be told to stop answering.
public final class FrameBusSimulator: Sendable {
    public enum UnitKind: String, Sendable { case keypad, display }

    struct Unit {
        var kind: UnitKind
        var queued: [Frame] = []
        var evaluating = false
        var shown: [UInt8]?
        var beeps = 0
        var silent = false
    }

    public let profile: FrameProfile
    public let commands: FrameCommands
    private let units = Mutex<[UInt16: Unit]>([:])

    public init(profile: FrameProfile = .hallBus, commands: FrameCommands = .hallBus) {
        self.profile = profile
        self.commands = commands
    }

    public func add(_ kind: UnitKind, address: UInt16) {
        units.withLock { $0[address] = Unit(kind: kind) }
    }

    public var addresses: [(UInt16, UnitKind)] { units.withLock { $0.map { ($0.key, $0.value.kind) }.sorted { $0.0 < $1.0 } } }

    /// A citizen presses rating key `index` (1 = first). An evaluator that is not
    /// waiting for a rating ignores it: returns false.
    @discardableResult
    public func pressRating(address: UInt16, key index: UInt8) -> Bool {
        units.withLock { units in
            guard var u = units[address], u.kind == .keypad, u.evaluating else { return false }
            u.evaluating = false
            u.queued.append(Frame(address: address, command: commands.rating, payload: [index]))
            units[address] = u
            return true
        }
    }

    /// A clerk presses a caller key (call, recall, pause, …); false when the profile has no such key.
    @discardableResult
    public func pressCaller(address: UInt16, _ key: String) -> Bool {
        guard let command = commands.keys[key] else { return false }
        return units.withLock { units in
            guard units[address] != nil else { return false }
            units[address]?.queued.append(Frame(address: address, command: command))
            return true
        }
    }

    public func setSilent(address: UInt16, _ silent: Bool) {
        units.withLock { $0[address]?.silent = silent }
    }

    public func isEvaluating(address: UInt16) -> Bool { units.withLock { $0[address]?.evaluating ?? false } }

    public func beeps(address: UInt16) -> Int { units.withLock { $0[address]?.beeps ?? 0 } }

    /// What a display shows: the effect byte (nil when the profile has none) and the text.
    public func shown(address: UInt16) -> (effect: UInt8?, lines: [String])? {
        let (hasEffect, separator, encoding) = (!commands.effectCodes.isEmpty, commands.lineSeparator, profile.encoding)
        return units.withLock { units in
            guard var bytes = units[address]?.shown else { return nil }
            var effect: UInt8?
            if hasEffect {
                guard let first = bytes.first else { return nil }
                effect = first
                bytes.removeFirst()
            }
            let lines = Self.split(bytes, by: separator).map { encoding.decode($0) ?? "?" }
            return (effect, lines)
        }
    }

    static func split(_ bytes: [UInt8], by separator: [UInt8]) -> [[UInt8]] {
        guard !separator.isEmpty else { return [bytes] }
        var parts: [[UInt8]] = [[]]
        var i = 0
        while i < bytes.count {
            if i + separator.count <= bytes.count, Array(bytes[i..<(i + separator.count)]) == separator {
                parts.append([])
                i += separator.count
            } else {
                parts[parts.count - 1].append(bytes[i])
                i += 1
            }
        }
        return parts
    }

    /// The answer to a host frame, or nil when nobody at that address answers.
    public func respond(to frame: Frame) -> [UInt8]? {
        let (commands, profile) = (commands, profile)
        return units.withLock { units -> [UInt8]? in
            guard var u = units[frame.address], !u.silent else { return nil }
            var answer = Frame(address: frame.address, command: commands.idle)
            switch frame.command {
            case commands.poll:
                if !u.queued.isEmpty { answer = u.queued.removeFirst() }
            case commands.evaluate:
                if u.kind == .keypad && frame.payload == commands.evaluateData { u.evaluating = true }
            case commands.show:
                u.shown = frame.payload
            case commands.beep:
                u.beeps += 1
            default:
                return nil
            }
            units[frame.address] = u
            return profile.encode(answer)
        }
    }
}
