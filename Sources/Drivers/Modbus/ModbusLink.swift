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

