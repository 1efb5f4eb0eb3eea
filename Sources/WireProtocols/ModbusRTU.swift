/// Modbus RTU, master side: requests, and a reader for the answer to one request
/// that resynchronises after noise and checks the CRC-16.
public enum ModbusFunction: UInt8, Sendable {
    case readCoils = 0x01
    case readHoldingRegisters = 0x03
    case readInputRegisters = 0x04
    case writeSingleCoil = 0x05
    case writeSingleRegister = 0x06
    case writeMultipleRegisters = 0x10
}

public struct ModbusRequest: Sendable, Equatable {
    public var unit: UInt8
    public var function: ModbusFunction
    public var address: UInt16
    /// Registers or coils to read, or registers written.
    public var quantity: UInt16
    public var values: [UInt16]

    public static func readHolding(unit: UInt8, address: UInt16, count: UInt16) -> Self {
        Self(unit: unit, function: .readHoldingRegisters, address: address, quantity: count, values: [])
    }
    public static func readInput(unit: UInt8, address: UInt16, count: UInt16) -> Self {
        Self(unit: unit, function: .readInputRegisters, address: address, quantity: count, values: [])
    }
    public static func readCoils(unit: UInt8, address: UInt16, count: UInt16) -> Self {
        Self(unit: unit, function: .readCoils, address: address, quantity: count, values: [])
    }
    public static func writeRegister(unit: UInt8, address: UInt16, value: UInt16) -> Self {
        Self(unit: unit, function: .writeSingleRegister, address: address, quantity: 1, values: [value])
    }
    public static func writeRegisters(unit: UInt8, address: UInt16, values: [UInt16]) -> Self {
        Self(unit: unit, function: .writeMultipleRegisters, address: address, quantity: UInt16(values.count), values: values)
    }
    public static func writeCoil(unit: UInt8, address: UInt16, on: Bool) -> Self {
        Self(unit: unit, function: .writeSingleCoil, address: address, quantity: 1, values: [on ? 0xFF00 : 0x0000])
    }

    /// The request on the wire, CRC low byte first.
    public func encode() -> [UInt8] {
        func be(_ v: UInt16) -> [UInt8] { [UInt8(v >> 8), UInt8(v & 0xFF)] }
        var pdu: [UInt8] = [unit, function.rawValue] + be(address)
        switch function {
        case .readCoils, .readHoldingRegisters, .readInputRegisters: pdu += be(quantity)
        case .writeSingleCoil, .writeSingleRegister: pdu += be(values.first ?? 0)
        case .writeMultipleRegisters:
            pdu += be(quantity) + [UInt8(values.count * 2)] + values.flatMap(be)
        }
        return pdu + ChecksumAlgorithm.crc16modbus.wire(pdu)
    }
}

public enum ModbusResponse: Sendable, Equatable {
    case registers([UInt16])
    case coils([Bool])
    case written(address: UInt16, value: UInt16)
    case exception(function: UInt8, code: UInt8)

    /// Exception codes as a technician reads them.
    public static func describe(exception code: UInt8) -> String {
        switch code {
        case 1: "illegal function"
        case 2: "illegal data address"
        case 3: "illegal data value"
        case 4: "server device failure"
        case 5: "acknowledge (busy, retry later)"
        case 6: "server device busy"
        case 11: "gateway target device failed to respond"
        default: "exception \(code)"
        }
    }
}

/// Reads the answer to `request` from bytes in any chunking. Bytes that cannot
/// start the answer (another unit, a bad CRC) are dropped one at a time and noted.
public struct ModbusResponseReader: Sendable {
    public let request: ModbusRequest
    private var buffer: [UInt8] = []
    private var offset = 0
    public private(set) var noise: [String] = []

    public init(request: ModbusRequest) { self.request = request }

    public mutating func consume(_ bytes: [UInt8]) -> ModbusResponse? {
        buffer += bytes
        while !buffer.isEmpty {
            switch attempt() {
            case .needMore: return nil
            case .done(let response, let n):
                buffer.removeFirst(n)
                offset += n
                return response
            case .bad(let reason):
                noise.append("\(reason); dropped \(hex([buffer[0]])) at offset \(offset)")
                buffer.removeFirst()
                offset += 1
            }
        }
        return nil
    }

    enum Attempt { case needMore, done(ModbusResponse, Int), bad(String) }

    private func attempt() -> Attempt {
        let b = buffer
        guard b[0] == request.unit else { return .bad("unit \(b[0]), expected \(request.unit)") }
        guard b.count >= 2 else { return .needMore }
        let fn = request.function.rawValue
        let length: Int
        if b[1] == fn | 0x80 {
            length = 5
        } else if b[1] == fn {
            switch request.function {
            case .readCoils, .readHoldingRegisters, .readInputRegisters:
                guard b.count >= 3 else { return .needMore }
                length = 3 + Int(b[2]) + 2
            case .writeSingleCoil, .writeSingleRegister, .writeMultipleRegisters:
                length = 8
            }
        } else {
            return .bad("function \(hex([b[1]])), expected \(hex([fn]))")
        }
        guard b.count >= length else { return .needMore }
        let frame = Array(b[0..<length])
        guard ChecksumAlgorithm.crc16modbus.wire(frame.dropLast(2)) == Array(frame.suffix(2)) else {
            return .bad("CRC \(hex(frame.suffix(2))) does not match")
        }
        if frame[1] & 0x80 != 0 { return .done(.exception(function: fn, code: frame[2]), length) }
        let data = Array(frame[3..<(length - 2)])
        switch request.function {
        case .readHoldingRegisters, .readInputRegisters:
            guard data.count == Int(request.quantity) * 2 else { return .bad("\(data.count) data bytes for \(request.quantity) registers") }
            return .done(.registers(stride(from: 0, to: data.count, by: 2).map { UInt16(data[$0]) << 8 | UInt16(data[$0 + 1]) }), length)
        case .readCoils:
            let coils = (0..<Int(request.quantity)).map { i in i / 8 < data.count && data[i / 8] & (1 << (i % 8)) != 0 }
            return .done(.coils(coils), length)
        case .writeSingleCoil, .writeSingleRegister, .writeMultipleRegisters:
            return .done(.written(address: UInt16(frame[2]) << 8 | UInt16(frame[3]), value: UInt16(frame[4]) << 8 | UInt16(frame[5])), length)
        }
    }
}

/// Text packed into registers: two bytes a register, high byte first, zero-padded.
public func packRegisters(_ bytes: [UInt8], count: Int) -> [UInt16] {
    (0..<count).map { i in
        let hi = 2 * i < bytes.count ? UInt16(bytes[2 * i]) : 0
        let lo = 2 * i + 1 < bytes.count ? UInt16(bytes[2 * i + 1]) : 0
        return hi << 8 | lo
    }
}

/// Register maps of Modbus keypads and displays, from configuration.
public struct ModbusRegisterMap: Sendable, Equatable {
    /// Keypad: holding register the driver sets to 1 to start an evaluation (0 to end it).
    public var startRegister: UInt16 = 0
    /// Keypad: holding register with the key pressed (0 none, 1 = first key); cleared after reading.
    public var resultRegister: UInt16 = 1
    /// Display: holding register with the effect (0 static, 1 scroll, 2 flash).
    public var effectRegister: UInt16 = 0
    /// Display: first holding register of the text (GB2312, two bytes a register, lines separated by 0A).
    public var textRegister: UInt16 = 16
    /// Display: how many registers the text takes.
    public var textRegisters: UInt16 = 32

    public init() {}
}
