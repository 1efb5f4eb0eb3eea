import Synchronization
import WireProtocols

/// Modbus RTU keypads and displays as hall-sim runs them: each unit id has 200
/// holding registers, laid out as the Modbus drivers' default register maps
/// (see Sources/Drivers/Modbus/README.md). A keypad takes a key only while its
/// start register is non-zero; a display's text is read back from its registers.
public final class ModbusBusSimulator: Sendable {
    public enum UnitKind: String, Sendable { case keypad, display }

    /// Default register map of the drivers.
    public static let startRegister = 0, resultRegister = 1, effectRegister = 0, textRegister = 16, textRegisters = 32

    struct Unit {
        var kind: UnitKind
        var registers = [UInt16](repeating: 0, count: 200)
        var silent = false
    }

    private let units = Mutex<[UInt8: Unit]>([:])

    public init() {}

    public func add(_ kind: UnitKind, unit: UInt8) { units.withLock { $0[unit] = Unit(kind: kind) } }

    public var unitIDs: [(UInt8, UnitKind)] { units.withLock { $0.map { ($0.key, $0.value.kind) }.sorted { $0.0 < $1.0 } } }

    public func setSilent(unit: UInt8, _ silent: Bool) { units.withLock { $0[unit]?.silent = silent } }

    public func isEvaluating(unit: UInt8) -> Bool { units.withLock { ($0[unit]?.registers[Self.startRegister] ?? 0) != 0 } }

    /// A citizen presses key `index`; ignored (false) unless the keypad was asked for a rating.
    @discardableResult
    public func pressRating(unit: UInt8, key index: UInt16) -> Bool {
        units.withLock { units in
            guard var u = units[unit], u.kind == .keypad, u.registers[Self.startRegister] != 0 else { return false }
            u.registers[Self.resultRegister] = index
            units[unit] = u
            return true
        }
    }

    /// A display's effect and lines (GB2312, two bytes a register, lines split at `0A`).
    public func shown(unit: UInt8) -> (effect: UInt16, lines: [String])? {
        units.withLock { units in
            guard let u = units[unit], u.kind == .display else { return nil }
            let bytes = u.registers[Self.textRegister..<(Self.textRegister + Self.textRegisters)].flatMap { [UInt8($0 >> 8), UInt8($0 & 0xFF)] }
            let text = Array(bytes.prefix { $0 != 0 })
            guard !text.isEmpty else { return nil }
            let lines = text.split(separator: 0x0A, omittingEmptySubsequences: false).map { TextEncoding.gb2312.decode(Array($0)) ?? "?" }
            return (u.registers[Self.effectRegister], lines)
        }
    }

    /// The answer to a request, or nil when no unit answers (unknown or silent).
    public func respond(to request: ModbusRequest) -> [UInt8]? {
        units.withLock { units -> [UInt8]? in
            guard var u = units[request.unit], !u.silent else { return nil }
            let start = Int(request.address), end = start + Int(request.quantity)
            guard request.quantity > 0, end <= u.registers.count else {
                return ModbusResponse.exception(function: request.function.rawValue, code: 0x02).encode(for: request)
            }
            let answer: ModbusResponse
            switch request.function {
            case .readHoldingRegisters, .readInputRegisters:
                answer = .registers(Array(u.registers[start..<end]))
            case .readCoils:
                answer = .coils(u.registers[start..<end].map { $0 != 0 })
            case .writeSingleRegister, .writeSingleCoil:
                u.registers[start] = request.values.first ?? 0
                answer = .written(address: request.address, value: request.values.first ?? 0)
            case .writeMultipleRegisters:
                u.registers.replaceSubrange(start..<end, with: request.values)
                answer = .written(address: request.address, value: request.quantity)
            }
            units[request.unit] = u
            return answer.encode(for: request)
        }
    }

    /// A responder for `PtyPeer`: decodes requests from the stream and answers them.
    public func responder() -> (inout [UInt8]) -> [[UInt8]] {
        var decoder = ModbusRequestDecoder()
        return { [self] bytes in decoder.feed(bytes).compactMap { self.respond(to: $0) } }
    }
}
