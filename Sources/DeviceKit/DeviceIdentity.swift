/// Who a device is and how it is reached. Unknown fields stay nil rather than
/// guessed: a technician must be able to trust what is shown.
public struct DeviceIdentity: Sendable, Codable, Equatable {
    public var vendor: String?
    public var model: String?
    public var serialNumber: String?
    public var firmware: String?
    /// USB bus path, serial port, CUPS queue, SANE name, or `simulated`.
    public var connection: String?

    public init(vendor: String? = nil, model: String? = nil, serialNumber: String? = nil, firmware: String? = nil, connection: String? = nil) {
        self.vendor = vendor
        self.model = model
        self.serialNumber = serialNumber
        self.firmware = firmware
        self.connection = connection
    }
}

/// What a device can do. One type for every kind; the fields of other kinds are nil
/// and left out of JSON.
public struct DeviceCapabilities: Sendable, Codable, Equatable {
    // scanner
    public var sources: [ScanSource]?
    public var modes: [ScanMode]?
    public var resolutions: [Int]?
    public var duplex: Bool?
    /// Image formats a scanner writes, or document formats a printer takes.
    public var formats: [String]?
    // printer
    /// `ticket` (ESC/POS roll) or `a4`.
    public var paper: String?
    // keypad
    public var keyCount: Int?
    public var hasScreen: Bool?
    // display
    public var lines: Int?
    public var columns: Int?
    public var encodings: [String]?
    public var effects: [DisplayEffect]?

    public init() {}
}
