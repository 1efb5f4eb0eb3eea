import DeviceKit
import Transports
import WireProtocols

/// Adapts the Modbus answer reader to the serial line.
struct ModbusReader: AnswerReader {
    var reader: ModbusResponseReader
    var noise: [String] { reader.noise }
    mutating func consume(_ bytes: [UInt8]) -> ModbusResponse? { reader.consume(bytes) }
}

/// One Modbus unit on a shared line: requests with retries, communication errors
/// counted, exception answers turned into errors a technician can read.
struct ModbusLink: Sendable {
    let line: SerialLine
    let unit: UInt8
    let timeout: Duration
    let retries: Int

    func send(_ request: ModbusRequest, context: DeviceContext?) async throws -> ModbusResponse {
        let response = try await line.request(
            request.encode(), timeout: timeout, retries: retries, reader: ModbusReader(reader: ModbusResponseReader(request: request)), who: "unit \(unit)",
            context: context)
        if case .exception(let fn, let code) = response {
            throw DeviceError(
                .hardwareError, "unit \(unit) answered \(ModbusResponse.describe(exception: code)) to function \(hex([fn])) at register \(request.address)",
                reasons: ["modbus-exception-error"])
        }
        return response
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
