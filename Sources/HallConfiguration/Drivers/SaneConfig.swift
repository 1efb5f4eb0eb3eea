import DeviceKit

/// `driver = "sane"`: a document scanner by SANE name, or by USB id (and serial).
public struct SaneSettings: Sendable, Equatable {
    /// The SANE device name (`scanimage -L`); nil when found by USB id.
    public var device: String?
    /// Matched on the USB bus: `usb = "04c5:132e"`, optionally `usb_serial`.
    public var usb: USBID?
    public var usbSerial: String?
    /// Backend options set before each job.
    public var options: [String: String] = [:]
    /// How long a scan's SANE call may go without returning before the job fails
    /// (`stall_seconds`).
    public var stallSeconds = 120

    public init(device: String? = nil, usb: USBID? = nil, usbSerial: String? = nil, options: [String: String] = [:], stallSeconds: Int = 120) {
        self.device = device
        self.usb = usb
        self.usbSerial = usbSerial
        self.options = options
        self.stallSeconds = stallSeconds
    }
}

extension DriverReader {
    static let sane = DriverReader(driver: "sane", kinds: [.scanner]) { t, kind, profiles in
        var s = SaneSettings()
        if let text = try t.string("usb") {
            guard let usb = USBID(text) else { throw t.error("usb", "expected VID:PID in hex, e.g. \"04c5:132e\", found \"\(text)\"") }
            s.usb = usb
            s.usbSerial = try t.string("usb_serial")
        }
        s.device = try t.string("sane")
        if s.device?.isEmpty ?? (s.usb == nil) {
            throw t.error("sane", "required (or usb = \"VID:PID\"): the SANE device name (scanimage -L lists them), e.g. \"fujitsu:fi-7160:12345\"")
        }
        s.stallSeconds = try t.int("stall_seconds", in: 5...3600) ?? s.stallSeconds
        if var options = try t.table("sane_options") {
            for key in options.keys { s.options[key] = try options.string(key) }
            try options.finish()
        }
        return .sane(s)
    }
}
