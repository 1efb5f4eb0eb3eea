import DeviceKit
import Synchronization
import WireProtocols

/// Hall-bus evaluators and displays as the hardware behaves, for hall-sim and the
/// tests: answers polls, lights up on `01 0B`, reports one rating key per
/// evaluation, keeps what `02` showed, and can be told to stop answering.
public final class HallBusSimulator: Sendable {
    public enum UnitKind: String, Sendable { case keypad, display }

    struct Unit {
        var kind: UnitKind
        var queued: [Frame] = []
        var evaluating = false
        var shown: [UInt8]?
        var beeps = 0
        var silent = false
    }

    private let units = Mutex<[UInt8: Unit]>([:])

    public init() {}

    public func add(_ kind: UnitKind, address: UInt8) {
        units.withLock { $0[address] = Unit(kind: kind) }
    }

    public var addresses: [(UInt8, UnitKind)] { units.withLock { $0.map { ($0.key, $0.value.kind) }.sorted { $0.0 < $1.0 } } }

    /// A citizen presses rating key `index` (1 = first). An evaluator that is not
    /// waiting for a rating ignores it: returns false.
    @discardableResult
    public func pressRating(address: UInt8, key index: UInt8) -> Bool {
        units.withLock { units in
            guard var u = units[address], u.kind == .keypad, u.evaluating else { return false }
            u.evaluating = false
            u.queued.append(Frame(address: UInt16(address), command: HallBus.DeviceCommand.evaluation.rawValue, payload: [index]))
            units[address] = u
            return true
        }
    }

    /// A clerk presses a caller key (call, recall, pause, …).
    public func pressCaller(address: UInt8, _ key: HallBus.DeviceCommand) {
        units.withLock { units in
            units[address]?.queued.append(Frame(address: UInt16(address), command: key.rawValue))
        }
    }

    public func setSilent(address: UInt8, _ silent: Bool) {
        units.withLock { $0[address]?.silent = silent }
    }

    public func isEvaluating(address: UInt8) -> Bool { units.withLock { $0[address]?.evaluating ?? false } }

    public func beeps(address: UInt8) -> Int { units.withLock { $0[address]?.beeps ?? 0 } }

    /// What a display shows: the effect byte and the text.
    public func shown(address: UInt8) -> (effect: UInt8, lines: [String])? {
        units.withLock { units in
            guard let bytes = units[address]?.shown, let effect = bytes.first else { return nil }
            let lines = bytes.dropFirst().split(separator: 0x0A, omittingEmptySubsequences: false).map {
                TextEncoding.gb2312.decode(Array($0)) ?? "?"
            }
            return (effect, lines)
        }
    }

    /// The answer to a host frame, or nil when nobody at that address answers.
    public func respond(to frame: Frame) -> [UInt8]? {
        units.withLock { units -> [UInt8]? in
            guard frame.address <= 0xFF, var u = units[UInt8(frame.address)], !u.silent else { return nil }
            let address = UInt8(frame.address)
            var answer = Frame(address: frame.address, command: HallBus.DeviceCommand.idle.rawValue)
            switch HallBus.HostCommand(rawValue: frame.command) {
            case .poll:
                if !u.queued.isEmpty { answer = u.queued.removeFirst() }
            case .evaluation:
                if u.kind == .keypad && frame.payload == [HallBus.startEvaluation] { u.evaluating = true }
            case .show:
                u.shown = frame.payload
            case .beep:
                u.beeps += 1
            case nil:
                return nil
            }
            units[address] = u
            return FrameProfile.hallBus.encode(answer)
        }
    }
}
