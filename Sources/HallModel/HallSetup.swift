import DeviceKit
import Foundation

/// A window: its devices and the services it serves.
public struct HallWindowConfig: Sendable, Codable, Equatable {
    public var number: Int
    public var display: DeviceID?
    public var keypad: DeviceID?
    public var printer: DeviceID?
    public var scanner: DeviceID?
    /// The speaker that says this window's calls, in a hall with zones; nil: the hall's.
    public var speaker: DeviceID?
    /// Service codes; empty: every service (一窗综合受理).
    public var services: [String]

    public init(
        number: Int, display: DeviceID? = nil, keypad: DeviceID? = nil, printer: DeviceID? = nil, scanner: DeviceID? = nil, speaker: DeviceID? = nil,
        services: [String] = []
    ) {
        self.number = number
        self.display = display
        self.keypad = keypad
        self.printer = printer
        self.scanner = scanner
        self.speaker = speaker
        self.services = services
    }

    public func serves(_ service: String) -> Bool { services.isEmpty || services.contains(service) }
}

/// The hall's configuration (`[hall]`).
public struct HallSetup: Sendable, Equatable {
    public var name: String
    public var timeZone: TimeZone
    public var services: [HallService]
    public var windows: [HallWindowConfig]
    public var kioskPrinter: DeviceID?
    public var mainDisplay: DeviceID?
    /// The hall's speaker: says every call (of this halld's windows without a speaker of
    /// their own, and, in a shared hall, of the other hallds' windows).
    public var speaker: DeviceID?
    /// A waiting ordinary ticket older than this is served before green tickets.
    public var agingBound: Duration
    public var recallMax: Int
    public var recallMinInterval: Duration
    public var ratingTimeout: Duration
    /// `rating_url`: the page a phone rates a ticket on, `{ticket}` its id; printed as the ticket's QR code.
    public var ratingURL: String?
    /// Working days a bad rating's follow-up may take (`followup_working_days`).
    public var followUpWorkingDays = 5
    /// `[hall.calendar]`: weekly hours, holidays, 调休 and 延时服务 duty hours.
    public var calendar = WorkCalendar()
    /// `[hall.appointments]`: an appointment is checked in from `checkinEarly` minutes
    /// before its slot to `checkinLate` after it; a slot lasts `slotMinutes`.
    public var checkinEarlyMinutes = 30
    public var checkinLateMinutes = 15
    public var slotMinutes = 30

    public init(
        name: String = "便民服务中心", timeZone: TimeZone = TimeZone(identifier: "Asia/Shanghai")!, services: [HallService] = [], windows: [HallWindowConfig] = [],
        kioskPrinter: DeviceID? = nil, mainDisplay: DeviceID? = nil, agingBound: Duration = .seconds(30 * 60), recallMax: Int = 3,
        recallMinInterval: Duration = .seconds(30), ratingTimeout: Duration = .seconds(30)
    ) {
        self.name = name
        self.timeZone = timeZone
        self.services = services
        self.windows = windows
        self.kioskPrinter = kioskPrinter
        self.mainDisplay = mainDisplay
        self.agingBound = agingBound
        self.recallMax = recallMax
        self.recallMinInterval = recallMinInterval
        self.ratingTimeout = ratingTimeout
    }

    public func service(_ code: String) -> HallService? { services.first { $0.code == code } }
    public func window(_ number: Int) -> HallWindowConfig? { windows.first { $0.number == number } }
}

