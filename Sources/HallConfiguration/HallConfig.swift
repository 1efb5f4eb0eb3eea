import DeviceKit
import Foundation
import HallAPIModels
import HallModel
import WireProtocols

/// The daemon's configuration (`halld.toml`). Every key is documented in
/// `Config/halld.toml`; unknown keys and wrong types stop the start.
public struct HallConfig: Sendable, Equatable {
    public struct Roles: Sendable, Equatable {
        public var technician: [String] = []
        public var clerk: [String] = []
        public var kiosk: [String] = []
        public var district: [String] = []
        public var manager: [String] = []
    }

    /// Where the hall is kept (`[hall] store`): this PC's SQLite, or a PostgreSQL
    /// database several hallds (and a district's halls) share.
    public enum HallStoreSetting: Sendable, Equatable {
        case sqlite
        /// `url` without a password; `hall` the hall's id in the database; the
        /// password from `passwordFile` or `HALLD_STORE_PASSWORD`.
        /// `resyncSeconds`: how often the store is asked for tickets no event announced.
        case postgresql(url: String, hall: String, passwordFile: String?, resyncSeconds: Int)
    }

    /// A `[[device]]` table: the fields every device has, and its driver's own
    /// (`settings`, read by the driver's reader under `Drivers/`).
    public struct Device: Sendable, Equatable {
        public var id: DeviceID
        public var kind: DeviceKind
        public var name: String
        /// What the driver reads from the table; its case names the driver.
        public var settings: DriverSettings
        /// Displays: lines and columns.
        public var lines: Int = 2
        public var columns: Int = 16
        /// Printers that take ESC/POS: how `{"ticket": …}` jobs are rendered.
        public var ticketLayout: TicketLayout?
        /// Speakers: the voice and how calls are announced.
        public var speech: SpeakerSettings?

        public init(id: DeviceID, kind: DeviceKind, name: String, settings: DriverSettings) {
            self.id = id
            self.kind = kind
            self.name = name
            self.settings = settings
        }

        /// The driver's name, as written in the table (`driver = "cups"`).
        public var driver: String { settings.driver }
    }

    public var socket = "/run/halld/halld.sock"
    /// Group given to the socket file (mode 0660) when it exists on the system.
    public var socketGroup = "halld"
    /// An optional TCP listener on a loopback address (`api.tcp`, "127.0.0.1:8470"),
    /// for programs that cannot speak to a Unix socket and for conformance tests.
    public var tcp: TCPListener?
    public struct TCPListener: Sendable, Equatable {
        public var host: String
        public var port: Int
    }
    /// The browser bridge (`[bridge]`): a loopback listener for web pages with tokens.
    public var bridge: BridgeListener?
    public struct BridgeListener: Sendable, Equatable {
        public var host: String
        public var port: Int
        /// Requests a token may make in a minute (429 beyond).
        public var ratePerMinute: Int

        public init(host: String, port: Int, ratePerMinute: Int = 600) {
            self.host = host
            self.port = port
            self.ratePerMinute = ratePerMinute
        }
    }
    /// The role of every TCP connection (no peer credentials exist on TCP).
    public var tcpRole: Role = .kiosk
    /// Connection limits of every listener.
    public var limits = ConnectionLimits()
    /// How long an interactive health check waits for a person (`api.interactive_check_seconds`).
    public var interactiveCheckTimeout: Duration = .seconds(120)
    public var stateDir = "/var/lib/halld"
    /// Hours the pages of a finished scan job stay in the spool.
    public var spoolRetentionHours = 24
    public var roles = Roles()
    public var eventRetentionDays = 30
    public var subscriberBuffer = 256
    public var heartbeatSeconds = 15.0
    public var retry = RetryPolicy()
    public var logLevel = "info"
    public var devices: [Device] = []
    /// `[[profile]]` tables by name.
    public var profiles: [String: ProfileConfig] = [:]
    /// `[hall]`: services, windows, the kiosk; nil when the file has none.
    public var hall: HallSetup?
    /// `[hall.workstations]`: a clerk workstation's Unix user → the staff id it signs
    /// in (`POST /v1/windows/{n}/sign-in` with no staffId).
    public var workstations: [String: String] = [:]
    /// `[hall] store`, `id`, `store_password_file`.
    public var hallStore: HallStoreSetting = .sqlite
    /// Stable names for USB-serial adapters (`[[udev]]`), for `hallctl udev-rules --config`.
    public var udevNames: [UdevName] = []

    public init() {}

    /// Reads and checks a configuration file.
    public static func load(file: String) throws -> HallConfig {
        let text: String
        do {
            text = try String(contentsOfFile: file, encoding: .utf8)
        } catch {
            throw ConfigError(file: file, key: nil, message: "cannot be read: \((error as NSError).localizedDescription)")
        }
        return try parse(text, file: file)
    }

    public static func parse(_ text: String, file: String) throws -> HallConfig {
        var root = TableReader(file: file, path: "", values: try ConfigValue.parse(toml: text, file: file))
        var config = HallConfig()
        if var api = try root.table("api") {
            config.socket = try api.string("socket") ?? config.socket
            config.socketGroup = try api.string("socket_group") ?? config.socketGroup
            if config.socket.isEmpty || !config.socket.hasPrefix("/") { throw api.error("socket", "expected an absolute path, found \"\(config.socket)\"") }
            if config.socket.utf8.count > 107 { throw api.error("socket", "a Unix socket path is at most 107 bytes") }
            if let tcp = try api.string("tcp") {
                let (host, port) = try loopback(tcp, &api, key: "tcp", example: "127.0.0.1:8470")
                config.tcp = TCPListener(host: host, port: port)
            }
            if let role = try api.string("tcp_role", oneOf: Role.allCases.map(\.rawValue)) { config.tcpRole = Role(rawValue: role)! }
            config.limits.maxConnections = try api.int("max_connections", in: 1...100_000) ?? config.limits.maxConnections
            if let s = try api.seconds("idle_timeout_seconds", in: 0.1...86_400) { config.limits.idleTimeout = .milliseconds(Int(s * 1000)) }
            if let s = try api.seconds("request_timeout_seconds", in: 0.1...3600) { config.limits.requestTimeout = .milliseconds(Int(s * 1000)) }
            if let s = try api.seconds("interactive_check_seconds", in: 1...600) { config.interactiveCheckTimeout = .milliseconds(Int(s * 1000)) }
            try api.finish()
        }
        if var storage = try root.table("storage") {
            config.stateDir = try storage.string("state_dir") ?? config.stateDir
            if !config.stateDir.hasPrefix("/") { throw storage.error("state_dir", "expected an absolute path, found \"\(config.stateDir)\"") }
            config.spoolRetentionHours = try storage.int("spool_retention_hours", in: 1...24 * 365) ?? config.spoolRetentionHours
            try storage.finish()
        }
        if var bridge = try root.table("bridge") {
            if let listen = try bridge.string("listen") {
                let (host, port) = try loopback(listen, &bridge, key: "listen", example: "127.0.0.1:8471")
                config.bridge = BridgeListener(host: host, port: port, ratePerMinute: try bridge.int("rate_per_minute", in: 1...100_000) ?? 600)
            } else if try bridge.int("rate_per_minute", in: 1...100_000) != nil {
                throw bridge.error("rate_per_minute", "only with listen = \"127.0.0.1:PORT\" (the bridge is off without it)")
            }
            try bridge.finish()
        }
        if var roles = try root.table("roles") {
            config.roles.technician = try roles.strings("technician") ?? []
            config.roles.clerk = try roles.strings("clerk") ?? []
            config.roles.kiosk = try roles.strings("kiosk") ?? []
            config.roles.district = try roles.strings("district") ?? []
            config.roles.manager = try roles.strings("manager") ?? []
            try roles.finish()
        }
        if var events = try root.table("events") {
            config.eventRetentionDays = try events.int("retention_days", in: 1...3650) ?? config.eventRetentionDays
            config.subscriberBuffer = try events.int("subscriber_buffer", in: 16...100_000) ?? config.subscriberBuffer
            config.heartbeatSeconds = try events.seconds("heartbeat_seconds", in: 1...300) ?? config.heartbeatSeconds
            try events.finish()
        }
        if var registry = try root.table("registry") {
            let initial = try registry.seconds("retry_initial_seconds", in: 0.01...600) ?? 1
            let maximum = try registry.seconds("retry_max_seconds", in: 0.01...3600) ?? 60
            config.retry = RetryPolicy(initial: .milliseconds(Int(initial * 1000)), maximum: .milliseconds(Int(maximum * 1000)))
            try registry.finish()
        }
        if var log = try root.table("log") {
            config.logLevel = try log.string("level", oneOf: ["trace", "debug", "info", "notice", "warning", "error", "critical"]) ?? config.logLevel
            try log.finish()
        }
        for var table in try root.tables("profile") {
            let profile = try ProfileConfig.read(&table)
            guard profile.frame.name != "hallbus", config.profiles[profile.frame.name] == nil else {
                throw table.error("name", "profile \"\(profile.frame.name)\" is defined twice (hallbus is built in)")
            }
            config.profiles[profile.frame.name] = profile
            try table.finish()
        }
        for var table in try root.tables("udev") {
            let name = try table.string("name") ?? ""
            guard name.range(of: "^[a-z0-9][a-z0-9-]{0,63}$", options: .regularExpression) != nil else {
                throw table.error("name", "required: the name under /dev/halld/ (a-z, 0-9, -), e.g. \"bus-1\", found \"\(name)\"")
            }
            guard !config.udevNames.contains(where: { $0.name == name }) else { throw table.error("name", "\"\(name)\" is named twice") }
            let serial = try table.string("serial"), path = try table.string("path")
            let match: UdevName.Match
            switch (serial, path) {
            case (let s?, nil):
                guard !s.isEmpty, !s.contains("\""), !s.contains(" ") else { throw table.error("serial", "an adapter's USB serial number (udevadm info -q property /dev/ttyUSB0 | grep ID_SERIAL_SHORT), found \"\(s)\"") }
                match = .serial(s)
            case (nil, let p?):
                guard !p.isEmpty, !p.contains("\""), !p.contains(" ") else { throw table.error("path", "a USB port's ID_PATH (udevadm info -q property /dev/ttyUSB0 | grep ID_PATH=), found \"\(p)\"") }
                match = .path(p)
            default:
                throw table.error("serial", "give exactly one of serial (the adapter's serial number) or path (the USB port it is plugged into)")
            }
            let kind = UdevName.Kind(rawValue: try table.string("kind", oneOf: UdevName.Kind.allCases.map(\.rawValue)) ?? "serial")!
            config.udevNames.append(UdevName(name: name, match: match, kind: kind))
            try table.finish()
        }
        var seen: Set<DeviceID> = []
        var lines: [String: (SerialSettings, DeviceID)] = [:]
        var addresses: Set<String> = []
        for var table in try root.tables("device") {
            let device = try DeviceReading.read(&table, profiles: config.profiles)
            guard seen.insert(device.id).inserted else { throw table.error("id", "device id \"\(device.id)\" is used twice") }
            if let serial = device.settings.serial {
                // A port under /dev/halld/ must be a name the generated udev rules give.
                guard UdevName.isGenerated(serial.port, named: config.udevNames) else {
                    throw table.error(
                        "port",
                        "\(serial.port) is no name udev gives: add a [[udev]] table with name = \"\(serial.port.dropFirst("/dev/halld/".count))\" and the adapter's serial or USB path, then run hallctl udev-rules --config")
                }
                // Devices sharing a port share its line settings, and each has its own address.
                if let (settings, first) = lines[serial.port], settings != serial.settings {
                    throw table.error("baud", "\(serial.settings) differs from \(settings) of \(first) on the same port \(serial.port)")
                }
                lines[serial.port] = lines[serial.port] ?? (serial.settings, device.id)
                guard addresses.insert("\(serial.port)#\(serial.address)").inserted else {
                    throw table.error("address", "address \(serial.address) on \(serial.port) is used twice")
                }
            }
            config.devices.append(device)
            try table.finish()
        }
        if var hall = try root.table("hall") {
            config.hall = try readHall(&hall, devices: config.devices)
            config.hallStore = try readStore(&hall)
            if var stations = try hall.table("workstations") {
                for user in stations.keys {
                    let staff = try stations.string(user) ?? ""
                    guard Clerk.isValidStaffId(staff) else {
                        throw stations.error(user, "expected the staff id the Unix user \(user) signs in as (letters, digits, . - _), found \"\(staff)\"")
                    }
                    config.workstations[user] = staff
                }
                try stations.finish()
            }
            try hall.finish()
        }
        try root.finish()
        return config
    }

    /// `HOST:PORT` on a loopback address (TCP has no peer credentials: nothing else
    /// may reach it).
    static func loopback(_ text: String, _ t: inout TableReader, key: String, example: String) throws -> (String, Int) {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (0...65535).contains(port) else {
            throw t.error(key, "expected HOST:PORT on a loopback address (\(example) or [::1]:\(example.split(separator: ":").last ?? "")), found \"\(text)\"")
        }
        let host = String(text[..<colon]).trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        guard host == "127.0.0.1" || host == "::1" || host == "localhost" else {
            throw t.error(key, "only loopback addresses are allowed (127.0.0.1, ::1, localhost), found \"\(host)\": TCP has no peer credentials")
        }
        return (host, port)
    }

    static func minutes(_ t: inout TableReader, _ key: String) throws -> Int? {
        guard let text = try t.string(key) else { return nil }
        let parts = text.split(separator: ":")
        guard parts.count == 2, let h = Int(parts[0]), let m = Int(parts[1]), (0...24).contains(h), (0...59).contains(m), h * 60 + m <= 24 * 60 else {
            throw t.error(key, "expected HH:MM, found \"\(text)\"")
        }
        return h * 60 + m
    }

    /// A list of weekly spans (`["Mon-Fri 09:00-12:00", "Sat 09:00-12:00"]`).
    static func spans(_ t: inout TableReader, _ key: String) throws -> [WeeklySpan]? {
        guard let texts = try t.strings(key) else { return nil }
        return try texts.enumerated().map { i, text in
            switch WeeklySpan.parse(text) {
            case .success(let span): return span
            case .failure(let error): throw t.error("\(key)[\(i)]", error.description)
            }
        }
    }

    /// Days (`2026-10-01`) and ranges of days (`2026-10-01..2026-10-07`).
    static func days(_ t: inout TableReader, _ key: String) throws -> Set<String> {
        var out: Set<String> = []
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        func date(_ text: Substring) -> Date? {
            let p = text.split(separator: "-").map { Int($0) }
            guard text.count == 10, p.count == 3, let y = p[0], let m = p[1], let d = p[2],
                let date = calendar.date(from: DateComponents(year: y, month: m, day: d)), WorkCalendar.dayText(date, calendar: calendar) == text
            else { return nil }
            return date
        }
        for (i, text) in (try t.strings(key) ?? []).enumerated() {
            let ends = text.components(separatedBy: "..").map { Substring($0) }
            guard (1...2).contains(ends.count), let first = date(ends[0]), let last = date(ends[ends.count - 1]), first <= last,
                last.timeIntervalSince(first) <= 366 * 86_400
            else {
                throw t.error("\(key)[\(i)]", "expected a day YYYY-MM-DD or a range YYYY-MM-DD..YYYY-MM-DD (at most a year), found \"\(text)\"")
            }
            var day = first
            while day <= last {
                out.insert(WorkCalendar.dayText(day, calendar: calendar))
                day = calendar.date(byAdding: .day, value: 1, to: day)!
            }
        }
        return out
    }

    /// `store = "sqlite"` (default) or `"postgresql://USER@HOST:PORT/DB"` with `id`;
    /// a password in the URL is refused: it belongs in `store_password_file` or
    /// `HALLD_STORE_PASSWORD`, never in the configuration.
    private static func readStore(_ t: inout TableReader) throws -> HallStoreSetting {
        let raw = try t.string("store") ?? "sqlite"
        let id = try t.string("id")
        let passwordFile = try t.string("store_password_file")
        let resync = try t.int("store_resync_seconds", in: 1...3600)
        if raw == "sqlite" {
            if passwordFile != nil { throw t.error("store_password_file", "only for store = \"postgresql://…\"") }
            if resync != nil { throw t.error("store_resync_seconds", "only for store = \"postgresql://…\"") }
            return .sqlite
        }
        guard let url = URLComponents(string: raw), url.scheme == "postgresql" || url.scheme == "postgres", let host = url.host, !host.isEmpty,
            let user = url.user, !user.isEmpty, url.path.count > 1
        else {
            throw t.error("store", "expected \"sqlite\" or \"postgresql://USER@HOST:PORT/DATABASE\", found \"\(raw)\"")
        }
        if url.password != nil {
            throw t.error("store", "the password does not belong in the configuration: put it in store_password_file or HALLD_STORE_PASSWORD")
        }
        guard let id, !id.isEmpty, id.count <= 64, id.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" }) else {
            throw t.error("id", "required with a postgresql store: the hall's id in the shared database (letters, digits, - and _), e.g. \"chengguan\"")
        }
        return .postgresql(url: raw, hall: id, passwordFile: passwordFile, resyncSeconds: resync ?? 30)
    }

    private static func readHall(_ t: inout TableReader, devices: [Device]) throws -> HallSetup {
        var setup = HallSetup()
        setup.name = try t.string("name") ?? setup.name
        if let zone = try t.string("timezone") {
            guard let tz = TimeZone(identifier: zone) else { throw t.error("timezone", "unknown time zone \"\(zone)\" (e.g. Asia/Shanghai)") }
            setup.timeZone = tz
        }
        setup.agingBound = .seconds(60 * (try t.int("aging_minutes", in: 1...24 * 60) ?? 30))
        setup.recallMax = try t.int("recall_max", in: 0...20) ?? setup.recallMax
        setup.recallMinInterval = .seconds(try t.int("recall_min_seconds", in: 0...3600) ?? 30)
        setup.ratingTimeout = .seconds(try t.int("rating_timeout_seconds", in: 5...600) ?? 30)
        setup.followUpWorkingDays = try t.int("followup_working_days", in: 1...60) ?? setup.followUpWorkingDays
        if let url = try t.string("rating_url") {
            guard url.contains("{ticket}"), let parsed = URLComponents(string: url.replacingOccurrences(of: "{ticket}", with: "t")), parsed.scheme == "https" || parsed.scheme == "http",
                parsed.host?.isEmpty == false
            else {
                throw t.error("rating_url", "expected an http(s) URL with {ticket} where the ticket's id goes, e.g. \"https://hpc.example.gov.cn/rate?t={ticket}\", found \"\(url)\"")
            }
            guard url.utf8.count <= 200 else { throw t.error("rating_url", "\(url.utf8.count) bytes: a ticket's QR code holds a URL of at most 200") }
            setup.ratingURL = url
        }
        func device(_ r: inout TableReader, _ key: String, _ kind: DeviceKind) throws -> DeviceID? {
            guard let raw = try r.string(key) else { return nil }
            guard let d = devices.first(where: { $0.id.rawValue == raw }) else { throw r.error(key, "no [[device]] with id \"\(raw)\"") }
            guard d.kind == kind else { throw r.error(key, "\(raw) is a \(d.kind.rawValue), not a \(kind.rawValue)") }
            return d.id
        }
        setup.speaker = try device(&t, "speaker", .speaker)
        if var c = try t.table("calendar") {
            setup.calendar = WorkCalendar(
                hours: try spans(&c, "hours") ?? [], holidays: try days(&c, "holidays"), workdays: try days(&c, "workdays"), duty: try spans(&c, "duty") ?? [])
            if let both = setup.calendar.holidays.intersection(setup.calendar.workdays).sorted().first {
                throw c.error("workdays", "\(both) is both a holiday and a working day")
            }
            try c.finish()
        }
        if var a = try t.table("appointments") {
            setup.checkinEarlyMinutes = try a.int("checkin_early_minutes", in: 0...24 * 60) ?? setup.checkinEarlyMinutes
            setup.checkinLateMinutes = try a.int("checkin_late_minutes", in: 0...24 * 60) ?? setup.checkinLateMinutes
            setup.slotMinutes = try a.int("slot_minutes", in: 5...24 * 60) ?? setup.slotMinutes
            try a.finish()
        }
        for var s in try t.tables("service") {
            guard let code = try s.string("code"), code.count <= 3, !code.isEmpty, code.allSatisfy({ $0.isASCII && $0.isUppercase }) else {
                throw s.error("code", "required: 1-3 capital letters, the ticket prefix (A, B, GJJ)")
            }
            guard setup.service(code) == nil else { throw s.error("code", "service \(code) is defined twice") }
            var posts: [String?] = []
            for key in ["post_a", "post_b"] {
                let post = try s.string(key)
                if let post, !Clerk.isValidStaffId(post) { throw s.error(key, "expected a staff id of the roster (letters, digits, . - _), found \"\(post)\"") }
                posts.append(post)
            }
            let opens = try minutes(&s, "opens"), closes = try minutes(&s, "closes")
            if (opens == nil) != (closes == nil) { throw s.error("opens", "give both opens and closes, or neither") }
            var hours = try spans(&s, "hours")
            if let opens, let closes {
                guard hours == nil else { throw s.error("opens", "give hours, or opens and closes (every day), not both") }
                guard opens < closes else { throw s.error("closes", "closes after it opens") }
                hours = [WeeklySpan(weekdays: Array(1...7), start: opens, end: closes)]
            }
            var service = HallService(
                code: code, name: try s.string("name") ?? code, dailyCap: try s.int("daily_cap", in: 1...999), hours: hours, duty: try spans(&s, "duty"),
                postA: posts[0], postB: posts[1], waitLimitMinutes: try s.int("wait_limit_minutes", in: 1...24 * 60),
                serviceLimitMinutes: try s.int("service_limit_minutes", in: 1...24 * 60))
            let materials = try s.strings("materials")
            let (timeLimit, fees, location, notes) = (try s.string("time_limit"), try s.string("fees"), try s.string("location"), try s.string("notes"))
            if let materials {
                if let i = materials.firstIndex(where: { $0.trimmingCharacters(in: .whitespaces).isEmpty }) { throw s.error("materials[\(i)]", "an empty material") }
                service.catalog = ServiceCatalog(materials: materials, timeLimit: timeLimit, fees: fees, location: location, notes: notes)
            } else if timeLimit != nil || fees != nil || location != nil || notes != nil {
                throw s.error("materials", "a service's catalog (time_limit, fees, location, notes) starts with its materials list: materials = [\"居民身份证原件\", …]")
            }
            setup.services.append(service)
            try s.finish()
        }
        for var w in try t.tables("window") {
            guard let number = try w.int("number", in: 1...999) else { throw w.error("number", "required: the window's number") }
            guard setup.window(number) == nil else { throw w.error("number", "window \(number) is defined twice") }
            let services = try w.strings("services") ?? []
            for (i, code) in services.enumerated() where setup.service(code) == nil {
                throw w.error("services[\(i)]", "no [[hall.service]] with code \"\(code)\"")
            }
            setup.windows.append(
                HallWindowConfig(
                    number: number, display: try device(&w, "display", .display), keypad: try device(&w, "keypad", .keypad),
                    printer: try device(&w, "printer", .printer), scanner: try device(&w, "scanner", .scanner), speaker: try device(&w, "speaker", .speaker),
                    services: services))
            try w.finish()
        }
        if var kiosk = try t.table("kiosk") {
            setup.kioskPrinter = try device(&kiosk, "printer", .printer)
            setup.mainDisplay = try device(&kiosk, "main_display", .display)
            try kiosk.finish()
        }
        if setup.services.isEmpty { throw t.error("service", "a hall needs at least one [[hall.service]]") }
        return setup
    }
}
