/// Line settings of a serial port, from the device's configuration.
public struct SerialSettings: Sendable, Equatable, CustomStringConvertible {
    public enum Parity: String, Sendable, CaseIterable { case none, even, odd }

    public var baud: Int
    public var dataBits: Int
    public var parity: Parity
    public var stopBits: Int
    /// Turn on RS-485 mode (TIOCSRS485) where the driver supports it.
    public var rs485: Bool

    public init(baud: Int = 9600, dataBits: Int = 8, parity: Parity = .none, stopBits: Int = 1, rs485: Bool = false) {
        self.baud = baud
        self.dataBits = dataBits
        self.parity = parity
        self.stopBits = stopBits
        self.rs485 = rs485
    }

    public static let bauds = [1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200]

    /// `9600 8N1`.
    public var description: String { "\(baud) \(dataBits)\(parity.rawValue.prefix(1).uppercased())\(stopBits)" }
}
