import DeviceKit
import Foundation
@testable import HallConfiguration
import HallModel
import Jobs
import Testing

@testable import HallDaemon

@Suite("Configuration", .timeLimit(.minutes(3)))
struct ConfigTests {
    @Test("the shipped configurations are valid", arguments: ["simulated.toml", "halld.toml", "serial-demo.toml"])
    func shipped(_ name: String) throws {
        let config = try HallConfig.load(file: repositoryRoot + "/Config/" + name)
        #expect(config.devices.count >= 4)
        #expect(Set(config.devices.map(\.kind)) == Set(DeviceKind.allCases))
    }

    func error(_ toml: String) -> ConfigError? {
        do {
            _ = try HallConfig.parse(toml, file: "test.toml")
            return nil
        } catch let e as ConfigError {
            return e
        } catch {
            return ConfigError(file: "?", key: nil, message: "\(error)")
        }
    }

    @Test("the hall's store: sqlite by default, a PostgreSQL URL with the hall's id; a password in the file, a missing id or a bad URL are refused with their key")
    func hallStore() throws {
        let hall = "[hall]\n[[hall.service]]\ncode = \"A\"\n"
        #expect(try HallConfig.parse(hall, file: "t").hallStore == .sqlite)
        let shared = try HallConfig.parse(
            "[roles]\ndistrict = [\"halld-district\"]\n[hall]\nstore = \"postgresql://halld@db.hall.lan:5432/hall\"\nid = \"chengguan\"\nstore_password_file = \"/etc/halld/store-password\"\n[[hall.service]]\ncode = \"A\"\n",
            file: "t")
        #expect(shared.hallStore == .postgresql(url: "postgresql://halld@db.hall.lan:5432/hall", hall: "chengguan", passwordFile: "/etc/halld/store-password", resyncSeconds: 30))
        #expect(shared.roles.district == ["halld-district"])
        func storeError(_ lines: String) -> ConfigError? { error("[hall]\n" + lines + "[[hall.service]]\ncode = \"A\"\n") }
        let password = storeError("store = \"postgresql://halld:secret@db:5432/hall\"\nid = \"x\"\n")
        #expect(password?.key == "hall.store" && password?.message.contains("store_password_file or HALLD_STORE_PASSWORD") == true, "\(String(describing: password))")
        #expect(storeError("store = \"postgresql://halld@db:5432/hall\"\n")?.key == "hall.id")
        #expect(storeError("store = \"postgresql://halld@db:5432/hall\"\nid = \"two words\"\n")?.key == "hall.id")
        #expect(storeError("store = \"mysql://halld@db/hall\"\nid = \"x\"\n")?.key == "hall.store")
        #expect(storeError("store = \"postgresql://db:5432/hall\"\nid = \"x\"\n")?.key == "hall.store", "a user is required")
        #expect(storeError("store_password_file = \"/p\"\n")?.key == "hall.store_password_file", "only with a postgresql store")
        #expect(storeError("store = \"postgresql://halld@db:5432/hall\"\nid = \"x\"\nstore_resync_seconds = 0\n")?.key == "hall.store_resync_seconds")
    }

    @Test("the browser bridge: off by default, on a loopback address only, with its rate")
    func bridge() throws {
        #expect(try HallConfig.parse("", file: "t").bridge == nil)
        let on = try HallConfig.parse("[bridge]\nlisten = \"127.0.0.1:8471\"\nrate_per_minute = 120\n", file: "t")
        #expect(on.bridge == .init(host: "127.0.0.1", port: 8471, ratePerMinute: 120))
        #expect(try HallConfig.parse("[bridge]\nlisten = \"[::1]:8471\"\n", file: "t").bridge?.ratePerMinute == 600)
        #expect(error("[bridge]\nlisten = \"0.0.0.0:8471\"\n")?.key == "bridge.listen")
        #expect(error("[bridge]\nlisten = \"192.168.1.5:8471\"\n")?.key == "bridge.listen")
        #expect(error("[bridge]\nrate_per_minute = 10\n")?.key == "bridge.rate_per_minute")
        #expect(error("[bridge]\nlisten = \"127.0.0.1:8471\"\nrate_per_minute = 0\n")?.key == "bridge.rate_per_minute")
    }

    @Test("unknown keys name their path")
    func unknownKey() {
        let e = error("[api]\nsocket = \"/tmp/x.sock\"\nsokcet_group = \"x\"\n")
        #expect(e?.key == "api.sokcet_group")
        #expect(e?.description.hasPrefix("test.toml: api.sokcet_group: unknown key") == true)
        #expect(error("[[device]]\nid=\"a\"\nkind=\"keypad\"\ndriver=\"simulated\"\ncolour=1\n")?.key == "device[0].colour")
        #expect(error("[hal]\n")?.key == "hal")
    }

    @Test("wrong types and values say what was expected")
    func wrongTypes() {
        let t = error("[events]\nretention_days = \"30\"\n")
        #expect(t?.key == "events.retention_days")
        #expect(t?.message == "expected an integer, found a string \"30\"")
        let kind = error("[[device]]\nid=\"cam\"\nkind=\"camera\"\ndriver=\"simulated\"\n")
        #expect(kind?.key == "device[0].kind")
        #expect(kind?.message == "expected one of scanner, printer, keypad, display, speaker, found \"camera\"")
        #expect(error("[[device]]\nid=\"Bad_ID\"\nkind=\"keypad\"\ndriver=\"simulated\"\n")?.key == "device[0].id")
        #expect(error("[[device]]\nid=\"s\"\nkind=\"scanner\"\ndriver=\"simulated\"\nsheets=0\n")?.message == "expected 1 to 1000, found 0")
        #expect(error("[api]\nsocket = \"relative.sock\"\n")?.key == "api.socket")
        #expect(error("[roles]\nclerk = [\"a\", 2]\n")?.key == "roles.clerk[1]")
    }

    @Test("duplicate ids, missing keys and driver keys are refused with their key")
    func devices() {
        let dup = error("[[device]]\nid=\"k\"\nkind=\"keypad\"\ndriver=\"simulated\"\n[[device]]\nid=\"k\"\nkind=\"display\"\ndriver=\"simulated\"\n")
        #expect(dup?.key == "device[1].id")
        #expect(error("[[device]]\nkind=\"keypad\"\ndriver=\"simulated\"\n")?.key == "device[0].id")
        let sane = error("[[device]]\nid=\"s\"\nkind=\"scanner\"\ndriver=\"sane\"\n")
        #expect(sane?.key == "device[0].sane")
        #expect(sane?.message.contains("scanimage -L") == true)
        #expect(error("[[device]]\nid=\"s\"\nkind=\"scanner\"\ndriver=\"sane\"\nsane=\"test:0\"\nsane_options={ depth = 8 }\n")?.key == "device[0].sane_options.depth")
        let stall = error("[[device]]\nid=\"s\"\nkind=\"scanner\"\ndriver=\"sane\"\nsane=\"test:0\"\nstall_seconds=1\n")
        #expect(stall?.key == "device[0].stall_seconds")
        #expect(stall?.message == "expected 5 to 3600, found 1", "\(String(describing: stall))")
        let parsed = try? HallConfig.parse("[[device]]\nid=\"s\"\nkind=\"scanner\"\ndriver=\"sane\"\nsane=\"test:0\"\nstall_seconds=30\n", file: "t.toml")
        #expect(parsed?.devices.first?.settings == .sane(SaneSettings(device: "test:0", stallSeconds: 30)))
        #expect(error("[[device]]\nid=\"p\"\nkind=\"printer\"\ndriver=\"cups\"\n")?.key == "device[0].queue")
        #expect(error("[[device]]\nid=\"p\"\nkind=\"printer\"\ndriver=\"cups\"\nqueue=\"t\"\npaper_mm=70\n")?.key == "device[0].paper_mm")
        #expect(error("[[device]]\nid=\"p\"\nkind=\"printer\"\ndriver=\"cups\"\nqueue=\"t\"\nticket_template=[\"cut\", \"huge: x\"]\n")?.key == "device[0].ticket_template[1]")
        #expect(error("[[device]]\nid=\"p\"\nkind=\"keypad\"\ndriver=\"cups\"\nqueue=\"t\"\n")?.key == "device[0].kind")
        #expect(error("[[device]]\nid=\"p\"\nkind=\"printer\"\ndriver=\"epson\"\n")?.message.hasPrefix("expected one of sane, cups") == true)
    }

    @Test("serial devices: port, line settings, addresses and key maps are checked")
    func serial() throws {
        let base = "[[device]]\nid=\"k\"\nkind=\"keypad\"\ndriver=\"hallbus\"\nport=\"/dev/ttyUSB0\"\n"
        let ok = try HallConfig.parse(base + "baud=19200\nparity=\"even\"\naddress=7\nkeys=[\"满意\",\"不满意\"]\n", file: "t.toml")
        let serial = try #require(ok.devices.first?.serial)
        #expect(serial.settings.description == "19200 8E1")
        #expect(serial.address == 7)
        #expect(serial.keys == [.satisfied, .dissatisfied])
        #expect(error("[[device]]\nid=\"k\"\nkind=\"keypad\"\ndriver=\"hallbus\"\n")?.key == "device[0].port")
        #expect(error(base + "baud=12345\n")?.key == "device[0].baud")
        #expect(error(base + "address=300\n")?.key == "device[0].address")
        #expect(error(base + "keys=[\"great\"]\n")?.key == "device[0].keys[0]")
        #expect(error(base + "parity=\"mark\"\n")?.key == "device[0].parity")
        let second = "[[device]]\nid=\"d\"\nkind=\"display\"\ndriver=\"hallbus\"\nport=\"/dev/ttyUSB0\"\n"
        #expect(error(base + second)?.message == "address 1 on /dev/ttyUSB0 is used twice")
        #expect(error(base + second + "address=2\nbaud=19200\n")?.key == "device[1].baud")
        #expect(try HallConfig.parse(base + second + "address=2\n", file: "t.toml").devices.count == 2)
        #expect(error("[[device]]\nid=\"s\"\nkind=\"scanner\"\ndriver=\"hallbus\"\nport=\"/dev/x\"\n")?.key == "device[0].kind")
        let modbus = "[[device]]\nid=\"m\"\nkind=\"display\"\ndriver=\"modbus\"\nport=\"/dev/ttyUSB1\"\naddress=3\ntext_register=100\ntext_registers=20\n"
        guard case .modbus(let m)? = try HallConfig.parse(modbus, file: "t.toml").devices.first?.settings else {
            Issue.record("a modbus device reads as modbus settings")
            return
        }
        #expect(m.registers.textRegister == 100 && m.registers.textRegisters == 20 && m.serial.address == 3)
        #expect(error(modbus + "start_register=1\n")?.key == "device[0].start_register", "a display has no start register")
        #expect(error(modbus.replacingOccurrences(of: "text_registers=20", with: "text_registers=200"))?.key == "device[0].text_registers")
    }

    @Test("TOML syntax errors carry line and column")
    func syntax() {
        let e = error("[api]\nsocket = \"/tmp/x.sock\n")
        #expect(e?.key == nil)
        #expect(e?.message.hasPrefix("line 2, column") == true)
    }

    @Test("a table name in Chinese without quotes is an error with its line and column, not a crash of the TOML parser (found by make fuzz)")
    func unquotedTableName() {
        let e = error("[api]\nsocket = \"/tmp/x.sock\"\n\n  [ 设备]\nid = \"x\"\n")
        #expect(e?.message == "line 4, column 5: a table name starts with a letter, digit, - or _; quote other names ([\"设备\"])", "\(String(describing: e))")
        #expect(error("[[\u{FFFD}]]\n")?.message.hasPrefix("line 1, column 3") == true)
        // Quoted, it parses (and is then an unknown key); inside a multi-line string it is text.
        #expect(error("[\"设备\"]\nid = 1\n")?.message.contains("unknown key") == true)
        #expect(error("[hall]\nname = \"\"\"\n[设备]\n\"\"\"\n")?.message.contains("a table name") != true)
        // A header broken off at the end of its line; arrays of arrays over lines are values, not headers.
        #expect(error("[\n [hall.service]]\n")?.message.hasPrefix("line 1, column 2: a table name") == true)
        #expect(error("[api]\nsocket = [\n  [\n 1]]\n")?.message.contains("a table name") != true)
    }

    @Test("a missing file is reported, not a crash")
    func missing() {
        #expect(throws: ConfigError.self) { try HallConfig.load(file: "/nonexistent/halld.toml") }
    }

    @Test("speakers: the alsa driver needs a PCM; voice, call_template, repeat and the hall's speaker keys are checked, naming the key")
    func speakers() throws {
        let speaker = "[[device]]\nid = \"speaker-1\"\nkind = \"speaker\"\ndriver = \"alsa\"\n"
        let ok = try HallConfig.parse(speaker + "pcm = \"default\"\nrepeat = 3\ncall_template = \"{number}请到{window}号窗口({service})\"\n", file: "t.toml")
        #expect(ok.devices[0].alsa?.pcm == "default" && ok.devices[0].speech?.repeats == 3 && ok.devices[0].speech?.voice == .espeak)
        #expect(error(speaker)?.key == "device[0].pcm")
        let voice = error(speaker + "pcm = \"default\"\nvoice = \"tts-cloud\"\n")
        #expect(voice?.key == "device[0].voice" && voice?.message.contains("clips:/FOLDER") == true, "\(String(describing: voice))")
        #expect(error(speaker + "pcm = \"default\"\nvoice = \"clips:/nonexistent-voice\"\n")?.message.contains("hallctl voice make") == true)
        #expect(error(speaker + "pcm = \"default\"\ncall_template = \"请到{window}号窗口\"\n")?.key == "device[0].call_template")
        #expect(error(speaker + "pcm = \"default\"\ncall_template = \"请{number}号到{counter}\"\n")?.message == "unknown placeholder {counter}: use {number}, {window}, {service}")
        #expect(error(speaker + "pcm = \"default\"\nrepeat = 0\n")?.key == "device[0].repeat")
        #expect(error("[[device]]\nid = \"s\"\nkind = \"display\"\ndriver = \"alsa\"\npcm = \"default\"\n")?.message == "the alsa driver drives speakers, not a display")
        let display = "[[device]]\nid = \"d\"\nkind = \"display\"\ndriver = \"simulated\"\n"
        let hall = error(display + "[hall]\nspeaker = \"d\"\n[[hall.service]]\ncode = \"A\"\n")
        #expect(hall?.key == "hall.speaker" && hall?.message == "d is a display, not a speaker", "\(String(describing: hall))")
        let window = error(display + "[hall]\n[[hall.service]]\ncode = \"A\"\n[[hall.window]]\nnumber = 1\nspeaker = \"nope\"\n")
        #expect(window?.key == "hall.window[0].speaker", "\(String(describing: window))")
    }

    @Test("scan-to-rate: rating_url puts the rating page with the ticket's id in the printed ticket's QR code; a URL without {ticket} or not http(s) is refused")
    func ratingURL() throws {
        let hall = "[hall]\n[[hall.service]]\ncode = \"A\"\nname = \"社会保障\"\n"
        let config = try HallConfig.parse("[hall]\nrating_url = \"https://hpc.example.gov.cn/rate?t={ticket}\"\n[[hall.service]]\ncode = \"A\"\n", file: "t.toml")
        let setup = try #require(config.hall)
        let t = Ticket(id: "6f1c0d2e", number: "A007", service: "A", day: "2026-11-30", priority: .normal, state: .waiting, issuedAt: Date(), queuedAt: Date(), recalls: 0)
        let content = Daemon.ticketContent(t, setup: setup)
        #expect(content.id == "https://hpc.example.gov.cn/rate?t=6f1c0d2e")
        let document = try TicketPrinting().document(content, for: DeviceID("ticket-printer")!)
        let url = Array("https://hpc.example.gov.cn/rate?t=6f1c0d2e".utf8)
        // GS ( k store: pL pH, 31 50 30, then the URL's bytes, as the printer reads them.
        let store: [UInt8] = [0x1D, 0x28, 0x6B, UInt8((url.count + 3) & 0xFF), UInt8((url.count + 3) >> 8), 0x31, 0x50, 0x30] + url
        #expect([UInt8](document.data).firstRange(of: store) != nil, "the QR code stores the rating URL")
        #expect(Daemon.ticketContent(t, setup: try #require(try HallConfig.parse(hall, file: "t.toml").hall)).id == "6f1c0d2e", "without rating_url: the ticket's id")
        for bad in ["https://hpc.example.gov.cn/rate", "ftp://x/{ticket}", "rate?t={ticket}"] {
            #expect(error("[hall]\nrating_url = \"\(bad)\"\n[[hall.service]]\ncode = \"A\"\n")?.key == "hall.rating_url", "\(bad)")
        }
    }

    @Test("[hall.calendar], [hall.appointments] and a service's hours, duty, promises and catalog are read; each wrong value names its key")
    func calendarAndCatalog() throws {
        let text = """
            [hall]
            [hall.calendar]
            hours = ["Mon-Fri 09:00-12:00", "Mon-Fri 13:30-17:30"]
            holidays = ["2027-01-01", "2027-02-10..2027-02-12"]
            workdays = ["2027-02-07"]
            duty = ["Sat 09:00-12:00"]
            [hall.appointments]
            checkin_early_minutes = 20
            checkin_late_minutes = 10
            slot_minutes = 15
            [[hall.service]]
            code = "A"
            name = "社会保障"
            duty = []
            wait_limit_minutes = 30
            service_limit_minutes = 20
            materials = ["居民身份证原件", "户口簿"]
            time_limit = "即办"
            fees = "不收费"
            [[hall.service]]
            code = "B"
            opens = "08:30"
            closes = "17:00"
            """
        let setup = try #require(try HallConfig.parse(text, file: "t.toml").hall)
        #expect(setup.calendar.hours.map(\.description) == ["Mon,Tue,Wed,Thu,Fri 09:00-12:00", "Mon,Tue,Wed,Thu,Fri 13:30-17:30"])
        #expect(setup.calendar.holidays == ["2027-01-01", "2027-02-10", "2027-02-11", "2027-02-12"] && setup.calendar.workdays == ["2027-02-07"])
        #expect(setup.checkinEarlyMinutes == 20 && setup.checkinLateMinutes == 10 && setup.slotMinutes == 15)
        let a = try #require(setup.service("A"))
        #expect(a.duty == [] && a.hours == nil && a.waitLimitMinutes == 30 && a.serviceLimitMinutes == 20)
        #expect(a.catalog == ServiceCatalog(materials: ["居民身份证原件", "户口簿"], timeLimit: "即办", fees: "不收费"))
        #expect(setup.service("B")?.hours == [WeeklySpan(weekdays: Array(1...7), start: 510, end: 1020)], "opens/closes: every day")
        let base = "[hall]\n[[hall.service]]\ncode = \"A\"\n"
        let cases: [(String, String)] = [
            ("[hall]\n[hall.calendar]\nhours = [\"Mon-Fri 9-12\"]\n[[hall.service]]\ncode = \"A\"\n", "hall.calendar.hours[0]"),
            ("[hall]\n[hall.calendar]\nholidays = [\"2027-02-30\"]\n[[hall.service]]\ncode = \"A\"\n", "hall.calendar.holidays[0]"),
            ("[hall]\n[hall.calendar]\nholidays = [\"2027-01-01\"]\nworkdays = [\"2027-01-01\"]\n[[hall.service]]\ncode = \"A\"\n", "hall.calendar.workdays"),
            ("[hall]\n[hall.appointments]\nslot_minutes = 1\n[[hall.service]]\ncode = \"A\"\n", "hall.appointments.slot_minutes"),
            (base + "duty = [\"Sun 12:00-09:00\"]\n", "hall.service[0].duty[0]"),
            (base + "hours = [\"daily 08:00-17:00\"]\nopens = \"08:00\"\ncloses = \"17:00\"\n", "hall.service[0].opens"),
            (base + "fees = \"不收费\"\n", "hall.service[0].materials"),
            (base + "materials = [\"身份证\", \" \"]\n", "hall.service[0].materials[1]"),
            (base + "wait_limit_minutes = 0\n", "hall.service[0].wait_limit_minutes"),
        ]
        for (text, key) in cases {
            #expect(error(text)?.key == key, "\(text): \(String(describing: error(text)))")
        }
    }
}
