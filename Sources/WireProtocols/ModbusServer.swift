/// Modbus RTU, server side: the requests a master sends, found in a byte stream
/// from any chunking (frames are told apart by their function's length and their
/// CRC, resynchronising after noise), and the answers a server gives. hall-sim's
/// Modbus devices use it; pymodbus stays the independent peer in tests.
public struct ModbusRequestDecoder: Sendable {
    private var buffer: [UInt8] = []
    public private(set) var droppedBytes = 0

    public init() {}

    /// Takes the next bytes; returns the complete requests among them.
    public mutating func feed(_ bytes: some Sequence<UInt8>) -> [ModbusRequest] {
        buffer += bytes
        var out: [ModbusRequest] = []
        while buffer.count >= 2 {
            guard let length = Self.length(buffer) else {
                drop()
                continue
            }
            guard buffer.count >= length else {
                // Noise can look like the start of a long frame: a whole valid request
                // further on shows it was noise.
                if let start = (1..<buffer.count).first(where: { Self.validFrame(at: $0, in: buffer) != nil }) {
                    droppedBytes += start
                    buffer.removeFirst(start)
                    continue
                }
                break
            }
            let frame = Array(buffer[0..<length])
            let crc = ChecksumAlgorithm.crc16modbus.wire(frame[0..<(length - 2)])
            guard Array(frame[(length - 2)...]) == crc, let request = Self.parse(frame) else {
                drop()
                continue
            }
            out.append(request)
            buffer.removeFirst(length)
        }
        if buffer.count > 512 { buffer.removeFirst(buffer.count - 512) }
        return out
    }

    /// The request at `offset` when a whole one with a good CRC is there.
    static func validFrame(at offset: Int, in b: [UInt8]) -> ModbusRequest? {
        guard b.count - offset >= 2, let length = length(Array(b[offset..<min(b.count, offset + 7)])), b.count - offset >= length else { return nil }
        let frame = Array(b[offset..<(offset + length)])
        guard Array(frame[(length - 2)...]) == ChecksumAlgorithm.crc16modbus.wire(frame[0..<(length - 2)]) else { return nil }
        return parse(frame)
    }

    private mutating func drop() {
        buffer.removeFirst()
        droppedBytes += 1
    }

    /// The whole frame's length, nil when the function is not one a server here knows.
    static func length(_ b: [UInt8]) -> Int? {
        switch ModbusFunction(rawValue: b[1]) {
        case .readCoils, .readHoldingRegisters, .readInputRegisters, .writeSingleCoil, .writeSingleRegister: return 8
        case .writeMultipleRegisters:
            guard b.count >= 7 else { return 9 }
            // 1-123 registers, and the byte count must agree with them.
            let quantity = Int(b[4]) << 8 | Int(b[5])
            return (1...123).contains(quantity) && Int(b[6]) == quantity * 2 ? 9 + Int(b[6]) : nil
        case nil: return nil
        }
    }

    static func parse(_ f: [UInt8]) -> ModbusRequest? {
        guard let function = ModbusFunction(rawValue: f[1]) else { return nil }
        let word = { (i: Int) in UInt16(f[i]) << 8 | UInt16(f[i + 1]) }
        switch function {
        case .readCoils, .readHoldingRegisters, .readInputRegisters:
            return ModbusRequest(unit: f[0], function: function, address: word(2), quantity: word(4), values: [])
        case .writeSingleCoil, .writeSingleRegister:
            return ModbusRequest(unit: f[0], function: function, address: word(2), quantity: 1, values: [word(4)])
        case .writeMultipleRegisters:
            let count = Int(word(4))
            guard Int(f[6]) == count * 2 else { return nil }
            return ModbusRequest(unit: f[0], function: function, address: word(2), quantity: UInt16(count), values: (0..<count).map { word(7 + 2 * $0) })
        }
    }
}

extension ModbusResponse {
    /// The server's answer to `request` on the wire, CRC low byte first.
    public func encode(for request: ModbusRequest) -> [UInt8] {
        func be(_ v: UInt16) -> [UInt8] { [UInt8(v >> 8), UInt8(v & 0xFF)] }
        var pdu: [UInt8] = [request.unit]
        switch self {
        case .registers(let values):
            pdu += [request.function.rawValue, UInt8(values.count * 2)] + values.flatMap(be)
        case .coils(let bits):
            let bytes = stride(from: 0, to: bits.count, by: 8).map { start in
                bits[start..<min(start + 8, bits.count)].enumerated().reduce(UInt8(0)) { $0 | ($1.element ? 1 << $1.offset : 0) }
            }
            pdu += [request.function.rawValue, UInt8(bytes.count)] + bytes
        case .written(let address, let value):
            pdu += [request.function.rawValue] + be(address) + be(value)
        case .exception(let function, let code):
            pdu += [function | 0x80, code]
        }
        return pdu + ChecksumAlgorithm.crc16modbus.wire(pdu)
    }
}
