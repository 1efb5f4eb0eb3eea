import CZlib
import DeviceKit
import Foundation
import Simulators
import Testing

@Suite("Simulated devices", .timeLimit(.minutes(3)))
struct SimulatorTests {
    @Test("scanned pages are real PNG images of the requested size and mode")
    func png() async throws {
        let scanner = SimulatedScanner(id: DeviceID("scanner-1")!, name: "s", sheets: 3)
        _ = try await scanner.open(context: .detached(testLogger))
        let pages = PageBox()
        let n = try await scanner.scan(ScanSettings(source: .adf, mode: .gray, resolution: 100, format: "png")) { pages.add($0) }
        #expect(n == 3)
        let first = try #require(pages.all.first)
        #expect(first.width == 827 && first.height == 1169, "A4 at 100 dpi")
        let bytes = [UInt8](first.data)
        #expect(bytes.prefix(8) == [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
        // IHDR: width, height, bit depth 8, colour type 0 (grey).
        #expect(bytes[16..<24] == [0, 0, 3, 0x3B, 0, 0, 4, 0x91])
        #expect(bytes[24] == 8 && bytes[25] == 0)
        // The IDAT inflates to one filter byte and 827 samples per row.
        let idatLength = Int(bytes[33]) << 24 | Int(bytes[34]) << 16 | Int(bytes[35]) << 8 | Int(bytes[36])
        #expect(String(decoding: bytes[37..<41], as: UTF8.self) == "IDAT")
        var out = [UInt8](repeating: 0, count: 828 * 1169)
        var outLength = uLongf(out.count)
        let rc = uncompress(&out, &outLength, Array(bytes[41..<41 + idatLength]), uLong(idatLength))
        #expect(rc == Z_OK)
        #expect(Int(outLength) == 828 * 1169)
        #expect(out[1] == 0, "the border is black")
        #expect(pages.all.map(\.number) == [1, 2, 3])
        #expect(pages.all[0].data != pages.all[1].data, "each page carries its number")
    }

    @Test("an empty feeder, a jam and cancellation stop a scan with the right code")
    func scanFaults() async throws {
        let scanner = SimulatedScanner(id: DeviceID("scanner-1")!, name: "s", sheets: 50)
        _ = try await scanner.open(context: .detached(testLogger))
        try await scanner.inject(.paperOut)
        await #expect(throws: DeviceError(.userError, "the feeder of scanner-1 is empty", device: DeviceID("scanner-1")!, reasons: ["feeder-empty-report"])) {
            _ = try await scanner.scan(ScanSettings(source: .adf, resolution: 75)) { _ in }
        }
        try await scanner.inject(.clear)
        let pages = PageBox()
        do {
            _ = try await scanner.scan(ScanSettings(source: .adf, mode: .lineart, resolution: 75)) { page in
                pages.add(page)
                if page.number == 2 { try await scanner.inject(.jam) }
            }
            Issue.record("a jam must stop the scan")
        } catch let e as DeviceError {
            #expect(e.code == .userError)
            #expect(e.reasons == ["media-jam-error"])
        }
        #expect(pages.all.count == 2)
        try await scanner.inject(.clear)
        let task = Task { try await scanner.scan(ScanSettings(source: .adf, resolution: 75)) { _ in } }
        task.cancel()
        await #expect(throws: DeviceError.self) { _ = try await task.value }
    }

    @Test("the printer keeps every job's bytes and counts pages")
    func printer() async throws {
        let printer = SimulatedPrinter(id: DeviceID("printer-1")!, name: "p", paper: "ticket")
        _ = try await printer.open(context: .detached(testLogger))
        let ticket = Data([0x1B, 0x40]) + Data("A012".utf8) + Data([0x1D, 0x56, 0x42, 0x00])
        let outcome = try await printer.print(PrintDocument(format: "escpos", data: ticket, title: "ticket"))
        #expect(outcome.pages == 1 && outcome.bytes == 10)
        #expect(await printer.printed.map(\.data) == [ticket])
        await #expect(throws: DeviceError.self) { _ = try await printer.print(PrintDocument(format: "pdf", data: Data("%PDF-".utf8), title: "x")) }
    }

    @Test("the keypad rates once per request and times out on the injected clock")
    func keypad() async throws {
        let clock = ManualClock()
        let keypad = SimulatedKeypad(id: DeviceID("keypad-1")!, name: "k", clock: clock)
        _ = try await keypad.open(context: .detached(testLogger))
        #expect(try await keypad.press(.satisfied) == false, "no request waits: the key rates nothing")
        let request = Task { try await keypad.requestRating(ticket: "A001", timeout: .seconds(30)) }
        try await eventually("keypad-1 waiting for a key") { await keypad.isWaiting }
        #expect(try await keypad.press(.dissatisfied) == true)
        #expect(try await request.value == .dissatisfied)
        #expect(try await keypad.press(.verySatisfied) == false, "a second press after the rating is ignored")

        let timed = Task { try await keypad.requestRating(ticket: "A002", timeout: .seconds(30)) }
        try await eventually("keypad-1 waiting for a key") { await keypad.isWaiting }
        try await clock.waitForSleepers()
        clock.advance(by: .seconds(30))
        await #expect(throws: DeviceError(.timeOut, "no key pressed on keypad-1 within 30.0 seconds", device: DeviceID("keypad-1")!)) { try await timed.value }
    }

    @Test("the display refuses lines that do not fit, counting Chinese characters two wide")
    func display() async throws {
        let display = SimulatedDisplay(id: DeviceID("display-1")!, name: "d", lines: 2, columns: 16)
        _ = try await display.open(context: .detached(testLogger))
        #expect(displayColumns("A012 请到3号窗口") == 16)
        try await display.show(DisplayContent(lines: ["A012 请到3号窗口"], effect: .flash))
        #expect(await display.content()?.lines == ["A012 请到3号窗口"])
        await #expect(throws: DeviceError.self) { try await display.show(DisplayContent(lines: ["A012 请到13号窗口"])) }
        try await display.show(DisplayContent(lines: ["A012 请到13号窗口办理业务"], effect: .scroll))
        await #expect(throws: DeviceError.self) { try await display.show(DisplayContent(lines: ["1", "2", "3"])) }
    }

    @Test("rating levels read from words, labels and stars")
    func levels() {
        #expect(RatingLevel(parsing: "非常满意") == .verySatisfied)
        #expect(RatingLevel(parsing: "basicallySatisfied") == .basicallySatisfied)
        #expect(RatingLevel(parsing: "1") == .veryDissatisfied)
        #expect(RatingLevel(parsing: "6") == nil)
        #expect(RatingLevel.allCases.map(\.label) == ["非常满意", "满意", "基本满意", "不满意", "非常不满意"])
        #expect(RatingLevel.dissatisfied.needsFollowUp && !RatingLevel.basicallySatisfied.needsFollowUp)
    }
}

/// Collects pages from a scan callback.
final class PageBox: Sendable {
    private let pages = Mutex<[ScannedPage]>([])
    func add(_ p: ScannedPage) { pages.withLock { $0.append(p) } }
    var all: [ScannedPage] { pages.withLock { $0 } }
}

import Synchronization
