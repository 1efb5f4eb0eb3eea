import ChildProcess
import DeviceKit
import Foundation
@testable import HallConfiguration
import HallAPIModels
import HallClient
@testable import Drivers
@testable import HallDaemon
import Testing
@testable import Transports
import WireProtocols

@Suite("ESC/POS tickets", .timeLimit(.minutes(3)))
struct ESCPOSTests {
    let fields = TicketFields([
        "hall": "城关镇便民服务中心", "service": "社会保障", "number": "A012", "waitingAhead": "5", "time": "2026-11-29 09:30", "notice": "请到3号窗口办理",
        "id": "T-20261129-A012",
    ])

    @Test("CJK characters count two columns for wrapping and centering")
    func columns() {
        #expect(displayColumns("A012 请到3号窗口") == 5 + 4 + 1 + 6)
        #expect(ESCPOS.wrap("请到3号窗口办理请到3号窗口办理请到3号窗口办理", width: 32).map { displayColumns($0) } == [32, 13])
        #expect(ESCPOS.wrap("abc", width: 2) == ["ab", "c"])
    }

    @Test("a rendered ticket has the number enlarged, Chinese in GB18030 between FS & and FS ., the QR code and a partial cut")
    func ticketBytes() throws {
        let template = try TicketTemplate(parsing: ["center,x3,bold: {number}", "center: {notice}", "qr: {id}", "cut"])
        let bytes = try template.render(fields, paper: .mm58, encoding: .gb18030)
        let notice = try TextEncoding.gb18030.encode("请到3号窗口办理")
        #expect(hex(notice) == "C7 EB B5 BD 33 BA C5 B4 B0 BF DA B0 EC C0 ED")
        // 32 columns at x3 is 10; A012 is 4 wide: 3 spaces before it.
        let number: [UInt8] = [0x1B, 0x45, 1, 0x1D, 0x21, 0x22, 0x20, 0x20, 0x20] + Array("A012".utf8) + [0x0A, 0x1D, 0x21, 0x00, 0x1B, 0x45, 0]
        // 请到 (4 columns), 3, 号窗口办理 (10): 15 columns of 32, 8 spaces before.
        let line: [UInt8] = Array(repeating: 0x20, count: 8) + [0x1C, 0x26] + Array(notice[0..<4]) + [0x1C, 0x2E, 0x33, 0x1C, 0x26] + Array(notice[5...]) + [0x1C, 0x2E, 0x0A]
        let id = Array("T-20261129-A012".utf8)
        let qr: [UInt8] = [0x1B, 0x61, 1, 0x1D, 0x28, 0x6B, 0x04, 0x00, 0x31, 0x41, 0x32, 0x00, 0x1D, 0x28, 0x6B, 0x03, 0x00, 0x31, 0x43, 6]
            + [0x1D, 0x28, 0x6B, 0x03, 0x00, 0x31, 0x45, 0x31, 0x1D, 0x28, 0x6B, UInt8(id.count + 3), 0x00, 0x31, 0x50, 0x30] + id
            + [0x1D, 0x28, 0x6B, 0x03, 0x00, 0x31, 0x51, 0x30, 0x0A, 0x1B, 0x61, 0]
        #expect(hex(bytes) == hex([0x1B, 0x40] + number + line + qr + [0x1D, 0x56, 0x42, 0x00]))
    }

    @Test("80 mm paper has 48 columns; GBK is used when configured; the standard layout renders")
    func paperAndEncoding() throws {
        let template = try TicketTemplate(parsing: ["center: {service}"])
        let wide = try template.render(fields, paper: .mm80, encoding: .gbk)
        #expect(Array(wide.prefix(2 + 20)) == [0x1B, 0x40] + Array(repeating: 0x20, count: 20))
        let standard = try TicketTemplate.standard.render(fields, paper: .mm58)
        #expect(standard.suffix(4) == [0x1D, 0x56, 0x42, 0x00])
    }

    @Test("a character the printer encoding cannot hold is named with its field; a missing field is named; optional fields drop their line")
    func errors() throws {
        var f = fields
        f.values["notice"] = "请稍候😀"
        // GB18030 carries every Unicode character; GBK, which some printers take, does not.
        #expect(try TicketTemplate.standard.render(f, paper: .mm58, encoding: .gb18030).count > 0)
        #expect(throws: TicketTemplate.RenderError.self) { try TicketTemplate.standard.render(f, paper: .mm58, encoding: .gbk) }
        do {
            _ = try TicketTemplate.standard.render(f, paper: .mm58, encoding: .gbk)
        } catch {
            #expect(error.field == "ticket.notice")
            #expect(error.message.contains("😀"))
            #expect(error.message.contains("U+1F600"))
        }
        var noNumber = fields
        noNumber.values["number"] = nil
        do {
            _ = try TicketTemplate.standard.render(noNumber, paper: .mm58)
            Issue.record("a ticket without a number rendered")
        } catch {
            #expect(error.field == "ticket.number")
        }
        var noNotice = fields
        noNotice.values["notice"] = nil
        let without = try TicketTemplate(parsing: ["left: {notice}", "left: x"]).render(noNotice, paper: .mm58)
        #expect(without == [0x1B, 0x40, 0x78, 0x0A])
        #expect(throws: TicketTemplate.ParseError.self) { try TicketTemplate(parsing: ["center,huge: {number}"]) }
        #expect(throws: TicketTemplate.ParseError.self) { try TicketTemplate(parsing: ["feed 99"]) }
    }
}

@Suite("CUPS states", .timeLimit(.minutes(3)))
struct CupsStateTests {
    @Test("a document's name keeps its title but not its white space (Debian 12's cupsd dies starting a job whose document name has any)")
    func documentNames() {
        #expect(CupsClient.documentName("ticket A012") == "ticket_A012")
        #expect(CupsClient.documentName("一次性告知 A001\tA\r\n") == "一次性告知_A001_A__")
        #expect(CupsClient.documentName("测试页") == "测试页")
    }

    @Test("CUPS states and reasons map onto the status model")
    func mapping() {
        typealias A = CupsPrinterAttributes
        #expect(CupsPrinter.status(A(state: 3)) == .online)
        #expect(CupsPrinter.status(A(state: 4)) == DeviceStatus(.busy))
        #expect(CupsPrinter.status(A(state: 5, reasons: ["media-empty-error"])) == DeviceStatus(.userError, reasons: ["media-empty-error"]))
        #expect(CupsPrinter.status(A(state: 5, reasons: ["media-jam"])) == DeviceStatus(.userError, reasons: ["media-jam-error"]))
        #expect(CupsPrinter.status(A(state: 5, reasons: ["door-open-error"])).state == .userError)
        #expect(CupsPrinter.status(A(state: 3, reasons: ["toner-low-warning"])) == DeviceStatus(.online, reasons: ["toner-low-warning"]))
        #expect(CupsPrinter.status(A(state: 4, reasons: ["offline-report"])) == DeviceStatus(.offline, reasons: ["offline-report"]))
        #expect(CupsPrinter.status(A(state: 5, reasons: ["paused"])) == DeviceStatus(.hardwareError, reasons: ["paused"]))
        #expect(CupsPrinter.status(A(state: 3, acceptingJobs: false)) == DeviceStatus(.offline, reasons: ["queue-rejecting-jobs", "offline-report"]))
        #expect(
            CupsPrinter.status(A(state: 4, message: "The printer may not exist or is unavailable at this time.")) == DeviceStatus(.offline, reasons: ["offline-report"]))
        // An idle queue keeps the last message of a retry; idle is online.
        #expect(CupsPrinter.status(A(state: 3, message: "The printer may not exist or is unavailable at this time.")) == .online)
    }

    @Test("a cupsd that is not there (its socket missing) is offline, cups-unreachable, in libcups's words")
    func unreachable() async throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let client = CupsClient(server: dir + "/no-cupsd.sock", name: "unreachable")
        do {
            _ = try await client.printerAttributes(queue: "ticket")
            Issue.record("reading a queue of a cupsd that is not there succeeded")
        } catch let error as DeviceError {
            #expect(error.reasons == ["cups-unreachable"], "\(error)")
            #expect(error.state == .offline)
            #expect(error.message.hasPrefix("reading queue ticket: CUPS is not reachable ("), "\(error.message)")
        }
    }
}

extension PeerTests {
    /// halld's CUPS driver against a private cupsd with a raw queue to a capture
    /// listener: the bytes a ticket printer receives, job states, faults.
    @Suite("printing through a real cupsd", .timeLimit(.minutes(3)))
    struct CupsPeerTests {
        static func config(_ peer: CupsPeer, dir: String, queue: String = "ticket") throws -> HallConfig {
            var config = try simulatedConfig(dir: dir)
            config.devices = try HallConfig.parse(
                """
                [[device]]
                id = "ticket-printer"
                kind = "printer"
                driver = "cups"
                name = "取号机票据打印机"
                queue = "\(queue)"
                format = "escpos"
                server = "\(peer.socket)"
                poll_ms = 200
                paper_mm = 58
                encoding = "GBK"
                ticket_template = ["center,bold: {hall}", "center: {service}", "center,x3,bold: {number}", "center: {notice}", "qr: {id}", "cut"]
                """, file: "cups.toml"
            ).devices
            return config
        }

        static func finished(_ client: HallClient, _ job: Job, seconds: Double = 60) async throws -> Job {
            var done = job
            let deadline = Date().addingTimeInterval(seconds)
            while !done.state.isFinal && Date() < deadline {
                try await Task.sleep(for: .milliseconds(50))
                done = try await client.call("GET", "/v1/print-jobs/\(job.id)")
            }
            return done
        }

        static let ticket = TicketContent(number: "A012", service: "社会保障", hall: "城关镇便民服务中心", notice: "请到3号窗口办理", id: "T-1")

        @Test("a ticket through the API reaches the printer byte for byte; the job is recorded; missing queues and bad text are clear errors")
        func ticket() async throws {
            try await withCupsPeer { peer in
            let dir = try temporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: dir) }
            var config = try Self.config(peer, dir: dir)
            config.devices += try Self.config(peer, dir: dir, queue: "missing").devices.map { d in
                var d = d
                d.id = DeviceID("a4-printer")!
                return d
            }
            let layout = try #require(config.devices[0].ticketLayout)
            try await withDaemon(config) { socket in
                let client = HallClient(socketPath: socket)
                let printer: DeviceDetail = try await client.call("GET", "/v1/devices/ticket-printer")
                #expect(printer.state == .online)
                #expect(printer.identity.connection?.contains("queue ticket -> socket://127.0.0.1:\(peer.port)") == true)
                let missing: DeviceDetail = try await client.call("GET", "/v1/devices/a4-printer")
                #expect(missing.state == .noDevice)
                #expect(missing.reasons.contains("queue-missing"))
                #expect(missing.lastError?.message.contains("queues there: ticket") == true, "\(String(describing: missing.lastError))")

                let job: Job = try await client.call("POST", "/v1/printers/ticket-printer/jobs", json: TicketPrintRequest(ticket: Self.ticket))
                let done = try await Self.finished(client, job)
                #expect(done.state == .completed)
                #expect(done.print?.deviceJob != nil)
                let expected = try layout.render(TicketFields(Self.ticket.values))
                #expect(hex(peer.captured) == hex(expected))
                let notice = try TextEncoding.gb18030.encode("号窗口办理")
                #expect(hex(peer.captured).contains(hex([0x1C, 0x26] + notice + [0x1C, 0x2E])))
                #expect(hex(peer.captured).contains(hex([0x31, 0x50, 0x30] + Array("T-1".utf8))))
                #expect(peer.captured.suffix(4) == [0x1D, 0x56, 0x42, 0x00])

                let completed: [Job] = try await client.call("GET", "/v1/print-jobs?state=completed")
                #expect(completed.map(\.id) == [job.id])

                var bad = Self.ticket
                bad.notice = "请稍候😀"
                let refused = try await client.send(
                    "POST", "/v1/printers/ticket-printer/jobs", body: try JSONEncoder().encode(TicketPrintRequest(ticket: bad)), contentType: "application/json")
                #expect(refused.status == 400)
                #expect(refused.apiError?.field == "ticket.notice")
                #expect(refused.apiError?.message.contains("😀") == true)
            }
            }
        }

        @Test("a kiosk ticket issued with print: true reaches the printer behind cupsd with the service's name (社会保障) in GB18030, not its code")
        func kioskTicket() async throws {
            try await withCupsPeer { peer in
                let dir = try temporaryDirectory()
                defer { try? FileManager.default.removeItem(atPath: dir) }
                var config = try simulatedConfig(dir: dir)
                // The hall's simulated devices, with the kiosk's ticket printer on the real cupsd.
                config.devices = config.devices.filter { $0.id.rawValue != "ticket-printer" } + (try Self.config(peer, dir: dir).devices)
                try await withDaemon(config) { socket in
                    let client = HallClient(socketPath: socket)
                    let ticket: Ticket = try await client.call("POST", "/v1/tickets", json: IssueRequest(service: "A", print: true))
                    let jobID = try #require(ticket.printJob, "the ticket names its print job: \(ticket)")
                    let done = try await Self.finished(client, try await client.call("GET", "/v1/print-jobs/\(jobID)"))
                    #expect(done.state == .completed, "\(done)")
                    let bytes = peer.captured
                    let name = try TextEncoding.gb18030.encode("社会保障")
                    #expect(hex(bytes).contains(hex(name)), "the printed ticket carries the service's name")
                    #expect(hex(bytes).contains(hex(try TextEncoding.gb18030.encode("城关镇便民服务中心"))), "and the hall's name")
                    #expect(hex(bytes).contains(hex(Array(ticket.number.utf8))), "and the number \(ticket.number)")
                    // The service line is the name, centered; the code alone is not printed as the service.
                    #expect(!hex(bytes).contains(hex(Array("\nA\n".utf8))), "the service code printed as its own line")
                }
            }
        }

        @Test("a one-time notice (一次性告知) printed at the window reaches the A4 queue behind cupsd as UTF-8 text with the service's materials in Chinese, is archived and read back; a service without a catalog is refused")
        func oneTimeNotice() async throws {
            try await withCupsPeer { peer in
                let dir = try temporaryDirectory()
                defer { try? FileManager.default.removeItem(atPath: dir) }
                var config = try simulatedConfig(dir: dir)
                // Window 1's A4 printer is a queue of the real cupsd (its raw queue to the capture listener).
                config.devices += try HallConfig.parse(
                    """
                    [[device]]
                    id = "a4-printer"
                    kind = "printer"
                    driver = "cups"
                    name = "1号窗口A4打印机"
                    queue = "ticket"
                    format = "pdf"
                    server = "\(peer.socket)"
                    poll_ms = 200
                    """, file: "cups.toml"
                ).devices
                config.hall?.windows[0].printer = DeviceID("a4-printer")
                config.hall?.services[0].catalog = ServiceCatalog(
                    materials: ["居民身份证原件及复印件1份", "户口簿原件", "近期一寸免冠照片2张"], timeLimit: "法定20个工作日，承诺5个工作日", fees: "不收费",
                    location: "一楼1号窗口")
                try await withDaemon(config) { socket in
                    let client = HallClient(socketPath: socket)
                    let _: HallWindow = try await client.call("PUT", "/v1/windows/1/status", json: WindowStatusRequest(state: .open))
                    let a: Ticket = try await client.call("POST", "/v1/tickets", json: IssueRequest(service: "A"))
                    let b: Ticket = try await client.call("POST", "/v1/tickets", json: IssueRequest(service: "B"))
                    let called: Ticket = try await client.call("POST", "/v1/windows/1/call-next")
                    #expect(called.id == a.id)
                    let notice: Notice = try await client.call("POST", "/v1/tickets/\(a.id)/notice")
                    let jobID = try #require(notice.printJob, "the notice names its print job: \(notice)")
                    let done = try await Self.finished(client, try await client.call("GET", "/v1/print-jobs/\(jobID)"))
                    #expect(done.state == .completed, "\(done)")
                    let printed = String(decoding: peer.captured, as: UTF8.self)
                    for line in ["一次性告知单", "办理事项：社会保障（A）", "  1. 居民身份证原件及复印件1份", "  3. 近期一寸免冠照片2张", "办理时限：法定20个工作日，承诺5个工作日", "收费标准：不收费", "1号窗口"] {
                        #expect(printed.contains(line), "the printed notice has \(line): \(printed)")
                    }
                    #expect(printed.contains("取号：\(a.number)"))
                    // Archived with the ticket, and read back as printed.
                    let archived: Notice = try await client.call("GET", "/v1/tickets/\(a.number)/notice")
                    #expect(archived.text == printed && archived.id == notice.id && archived.printer == "a4-printer")
                    let text = try await client.send("GET", "/v1/tickets/\(a.id)/notice?format=text")
                    #expect(text.status == 200 && text.text == printed)
                    // Service B has no catalog; a ticket with no notice has nothing to read back.
                    let refused = try await client.send("POST", "/v1/tickets/\(b.id)/notice", body: Data(#"{"window": 1}"#.utf8))
                    #expect(refused.status == 400 && refused.apiError?.field == "service", "\(refused.status) \(refused.text)")
                    let none = try await client.send("GET", "/v1/tickets/\(b.id)/notice")
                    #expect(none.status == 404, "\(none.text)")
                    let jobs = try await client.send("GET", "/v1/print-jobs")
                    #expect(jobs.text.components(separatedBy: "一次性告知").count == 2, "one notice job, the refused one printed nothing: \(jobs.text)")
                }
            }
        }

        @Test("printer off: the job waits with CUPS's reason and the printer shows offline; on again: the job completes; cancel and reprint")
        func printerOff() async throws {
            try await withCupsPeer { peer in
            let dir = try temporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let config = try Self.config(peer, dir: dir)
            try await withDaemon(config) { socket in
                let client = HallClient(socketPath: socket)
                await peer.printerOff()
                let job: Job = try await client.call("POST", "/v1/printers/ticket-printer/jobs", json: TicketPrintRequest(ticket: Self.ticket))
                var waiting = job
                var printer: DeviceDetail = try await client.call("GET", "/v1/devices/ticket-printer")
                let deadline = Date().addingTimeInterval(30)
                while (waiting.print?.message == nil || printer.state != .offline) && Date() < deadline {
                    try await Task.sleep(for: .milliseconds(100))
                    waiting = try await client.call("GET", "/v1/print-jobs/\(job.id)")
                    printer = try await client.call("GET", "/v1/devices/ticket-printer")
                }
                #expect(waiting.state == .processing)
                #expect(waiting.print?.message?.isEmpty == false, "no reason while the printer is off")
                #expect(printer.state == .offline)
                #expect(printer.reasons.contains("offline-report"))
                #expect(peer.captured.isEmpty)

                // A second job, canceled while it waits.
                let second: Job = try await client.call("POST", "/v1/printers/ticket-printer/jobs", json: TicketPrintRequest(ticket: Self.ticket))
                try await Task.sleep(for: .milliseconds(300))
                let _: Job = try await client.call("DELETE", "/v1/print-jobs/\(second.id)")
                let canceled = try await Self.finished(client, second, seconds: 10)
                #expect(canceled.state == .canceled)

                try await peer.printerOn()
                let done = try await Self.finished(client, job)
                #expect(done.state == .completed)
                let one = peer.captured.count
                #expect(one > 0)
                var back: DeviceDetail = try await client.call("GET", "/v1/devices/ticket-printer")
                let until = Date().addingTimeInterval(10)
                while back.state != .online && Date() < until {
                    try await Task.sleep(for: .milliseconds(100))
                    back = try await client.call("GET", "/v1/devices/ticket-printer")
                }
                #expect(back.state == .online)

                // The canceled ticket printed again from its record.
                let again: Job = try await client.call("POST", "/v1/print-jobs/\(second.id)/reprint")
                #expect(again.reprintOf == second.id)
                let reprinted = try await Self.finished(client, again)
                #expect(reprinted.state == .completed)
                #expect(peer.captured.count == 2 * one)
                #expect(Array(peer.captured[one...]) == Array(peer.captured[..<one]))
                // CUPS has nothing left queued for it.
                #expect(try await peer.tool(["/usr/bin/lpstat", "-o", "ticket"]).isEmpty)
            }
            }
        }

        @Test("an IPP Everywhere A4 printer (ippeveprinter): its identity from CUPS, a PDF through the API arrives as PDF; a ticket is refused")
        func a4() async throws {
            try await withCupsPeer { peer in
            try await peer.startA4()
            let dir = try temporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: dir) }
            var config = try simulatedConfig(dir: dir)
            config.devices = try HallConfig.parse(
                """
                [[device]]
                id = "a4-1"
                kind = "printer"
                driver = "cups"
                queue = "a4"
                format = "pdf"
                server = "\(peer.socket)"
                poll_ms = 200
                """, file: "a4.toml"
            ).devices
            try await withDaemon(config) { socket in
                let client = HallClient(socketPath: socket)
                let printer: DeviceDetail = try await client.call("GET", "/v1/devices/a4-1")
                #expect(printer.state == .online)
                #expect(printer.identity.connection?.contains("ipp://localhost:") == true)
                #expect(printer.capabilities.formats == ["pdf", "text"])
                let pdf = TestPage.pdf(title: "halld A4", line: "一次性告知单")
                let reply = try await client.send("POST", "/v1/printers/a4-1/jobs", body: pdf, contentType: "application/pdf", headers: ["X-Document-Title": "notice"])
                let job: Job = try HallClient.decode(reply)
                let done = try await Self.finished(client, job, seconds: 90)
                #expect(done.state == .completed, "\(done)\n\(peer.diagnostics)")
                let kept = try FileManager.default.contentsOfDirectory(atPath: peer.a4Spool)
                #expect(kept.count == 1, "\(kept)")
                let first = try #require(kept.first)
                let data = try Data(contentsOf: URL(fileURLWithPath: peer.a4Spool + "/" + first))
                #expect(data.starts(with: Data("%PDF-".utf8)))
                let ticket = try await client.send(
                    "POST", "/v1/printers/a4-1/jobs", body: try JSONEncoder().encode(TicketPrintRequest(ticket: Self.ticket)), contentType: "application/json")
                #expect(ticket.status == 400)
                #expect(ticket.apiError?.message.contains("not ESC/POS tickets") == true)
            }
            }
        }

        @Test("hallctl doctor asks CUPS (lpstat) and SANE (scanimage -L) as separate programs: a present queue and scanner pass, a missing queue fails naming those there")
        func doctorThroughTools() async throws {
            try await withCupsPeer { peer in
                let dir = try temporaryDirectory()
                defer { try? FileManager.default.removeItem(atPath: dir) }
                let toml = """
                    [api]
                    socket = "\(dir)/none.sock"
                    [storage]
                    state_dir = "\(dir)/state"
                    [[device]]
                    id = "ticket-printer"
                    kind = "printer"
                    driver = "cups"
                    queue = "ticket"
                    server = "\(peer.socket)"
                    [[device]]
                    id = "a4-1"
                    kind = "printer"
                    driver = "cups"
                    queue = "a4-missing"
                    format = "pdf"
                    server = "\(peer.socket)"
                    [[device]]
                    id = "scanner-1"
                    kind = "scanner"
                    driver = "sane"
                    sane = "test:0"
                    """
                try toml.write(toFile: dir + "/halld.toml", atomically: true, encoding: .utf8)
                let hallctl = builtExecutable("hallctl")
                let (status, out) = try await runCommand(
                    [hallctl, "doctor", "--config", dir + "/halld.toml", "--socket", dir + "/none.sock"], environment: ["SANE_CONFIG_DIR": saneConfigDir])
                #expect(status == 1, "no halld answers, and a queue is missing: \(out)")
                #expect(out.contains("OK    cups ticket: queue present (ticket-printer)"), "\(out)")
                #expect(out.contains("FAIL  cups a4-missing: no such queue (a4-1); queues: ticket"), "\(out)")
                #expect(out.contains("OK    sane test:0: present (scanner-1)"), "\(out)")
                // hallctl links no device library: it asked the tools.
                let (_, libraries) = try await runCommand(["/usr/bin/ldd", hallctl])
                for library in ["libsane", "libcups", "libusb", "libturbojpeg", "libsqlite3", "libasound"] {
                    #expect(!libraries.contains(library), "hallctl links \(library)")
                }
            }
        }

        @Test("a queue that rejects jobs shows offline with its reason; health checks read it and print a test ticket")
        func statesAndHealth() async throws {
            try await withCupsPeer { peer in
            let dir = try temporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: dir) }
            try await withDaemon(try Self.config(peer, dir: dir)) { socket in
                let client = HallClient(socketPath: socket)
                let internalCheck: HealthReport = try await client.call("POST", "/v1/devices/ticket-printer/health", json: HealthCheckRequest(level: .internal))
                #expect(internalCheck.passed)
                #expect(internalCheck.checks.first { $0.name == "events" }?.detail.hasPrefix("IPP subscription") == true, "\(internalCheck)")
                let external: HealthReport = try await client.call("POST", "/v1/devices/ticket-printer/health", json: HealthCheckRequest(level: .external))
                #expect(external.passed, "\(external)")
                #expect(peer.captured.suffix(4) == [0x1D, 0x56, 0x42, 0x00])
                #expect(hex(peer.captured).contains(hex(try TextEncoding.gb18030.encode("打印测试"))))

                try await peer.tool(["/usr/sbin/cupsreject", "ticket"])
                var printer: DeviceDetail = try await client.call("GET", "/v1/devices/ticket-printer")
                let deadline = Date().addingTimeInterval(10)
                // The test ticket's job may still show CUPS's passing "connecting-to-device,
                // offline-report": wait for the queue's own reason.
                while !(printer.state == .offline && printer.reasons.contains("queue-rejecting-jobs")) && Date() < deadline {
                    try await Task.sleep(for: .milliseconds(100))
                    printer = try await client.call("GET", "/v1/devices/ticket-printer")
                }
                #expect(printer.state == .offline)
                #expect(printer.reasons.contains("queue-rejecting-jobs"))
                let refused = try await client.send(
                    "POST", "/v1/printers/ticket-printer/jobs", body: try JSONEncoder().encode(TicketPrintRequest(ticket: Self.ticket)), contentType: "application/json")
                #expect(refused.status == 503)
                try await peer.tool(["/usr/sbin/cupsaccept", "ticket"])
                while printer.state != .online && Date() < deadline.addingTimeInterval(10) {
                    try await Task.sleep(for: .milliseconds(100))
                    printer = try await client.call("GET", "/v1/devices/ticket-printer")
                }
                #expect(printer.state == .online)
            }
            }
        }
    }
}
