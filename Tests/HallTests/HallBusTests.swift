import DeviceKit
import Drivers
import Foundation
@testable import HallConfiguration
import Simulators
import Testing
import Transports
import WireProtocols

extension PeerTests {
    /// The hall-bus drivers over a real pseudo-terminal, with a simulated evaluator and
    /// display on the far end sharing one line.
    @Suite("hall-bus over a pty", .timeLimit(.minutes(3)))
    struct HallBusTests {
        struct Bench {
            let dir: String
            let simulator = FrameBusSimulator()
            let peer: PtyPeer
            let line: SerialLine
            let keypad: ProfileKeypad
            let display: ProfileDisplay
            let registry: DeviceRegistry
            let events = EventRecorder()

            init() throws {
                dir = try temporaryDirectory()
                simulator.add(.keypad, address: 1)
                simulator.add(.display, address: 2)
                let simulator = simulator
                peer = try PtyPeer(path: dir + "/bus-1") { simulator.respond(to: $0) }
                line = SerialLine(path: dir + "/bus-1", settings: SerialSettings(baud: 9600), gap: .milliseconds(1))
                keypad = ProfileKeypad(
                    id: DeviceID("keypad-1")!, name: "1号窗口评价器", link: FrameLink(line: line, address: 1, timeout: .milliseconds(250), retries: 1),
                    pollInterval: .milliseconds(15))
                display = ProfileDisplay(
                    id: DeviceID("display-1")!, name: "1号窗口屏", link: FrameLink(line: line, address: 2, timeout: .seconds(1), retries: 2), lines: 2,
                    columns: 16, pollInterval: .milliseconds(30))
                registry = DeviceRegistry(
                    devices: [keypad, display], events: events, retry: RetryPolicy(initial: .milliseconds(50), maximum: .milliseconds(200)), logger: testLogger)
            }

            func run(_ body: @Sendable (Bench) async throws -> Void) async throws {
                defer {
                    peer.hangUpSoon()
                    try? FileManager.default.removeItem(atPath: dir)
                }
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask { await registry.run() }
                    _ = try await events.status("keypad-1", .online)
                    _ = try await events.status("display-1", .online)
                    try await body(self)
                    group.cancelAll()
                }
            }
        }

        @Test("RS-485 mode is asked for when configured; a pty's ENOTTY leaves the port open and working")
        func rs485OnAPty() async throws {
            let dir = try temporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let peer = try PtyPeer(path: dir + "/bus-1") { _ in nil }
            defer { peer.hangUpSoon() }
            let port = try SerialPort(path: dir + "/bus-1", settings: SerialSettings(baud: 9600, rs485: true))
            defer { port.close() }
            #expect(port.rs485Result == ENOTTY)
            let plain = try SerialPort(path: dir + "/bus-1", settings: SerialSettings(baud: 9600))
            defer { plain.close() }
            #expect(plain.rs485Result == nil)
        }

        @Test("a rating request lights the evaluator; its key is mapped to a level; later keys rate nothing")
        func rating() async throws {
            try await Bench().run { b in
                let rating = Task { try await b.keypad.requestRating(ticket: "A012", timeout: .seconds(5)) }
                try await eventually("b.simulator.isEvaluating(address: 1)") { b.simulator.isEvaluating(address: 1) }
                #expect(b.simulator.pressRating(address: 1, key: 2))
                let level = try await rating.value
                #expect(level == .satisfied)
                let key = try await b.events.next(EventType.keypadKey, device: "keypad-1")
                #expect(key.data["key"] == 2 && key.data["rated"] == true)
                let stored = try await b.events.next(EventType.keypadRating, device: "keypad-1")
                #expect(stored.data["level"]?.stringValue == "satisfied")
                #expect(stored.data["ticket"]?.stringValue == "A012")
                #expect(!b.simulator.pressRating(address: 1, key: 5), "the evaluator is dark again until the next request")

                b.simulator.pressCaller(address: 1, "call")
                let call = try await b.events.next(EventType.keypadKey, device: "keypad-1") { $0.data["key"]?.stringValue == "call" }
                #expect(call.data["rated"] == false)
            }
        }

        @Test("the display on the same line shows Chinese text in GB2312 with its effect")
        func display() async throws {
            try await Bench().run { b in
                try await b.display.show(DisplayContent(lines: ["A012 请到3号窗口", "请稍候"], effect: .flash))
                let shown = try #require(b.simulator.shown(address: 2))
                #expect(shown.effect == 2)
                #expect(shown.lines == ["A012 请到3号窗口", "请稍候"])
                await #expect(throws: DeviceError.self) { try await b.display.show(DisplayContent(lines: ["A012 请到13号窗口"])) }
                let report = try await b.display.healthCheck(.external)
                #expect(report.passed)
                #expect(b.simulator.beeps(address: 2) == 1)
            }
        }

        @Test("a device that stops answering goes offline after its retries and comes back by itself")
        func silence() async throws {
            try await Bench().run { b in
                b.simulator.setSilent(address: 1, true)
                let off = try await b.events.status("keypad-1", .offline)
                #expect(off.data["reasons"] == ["communication-timeout-error"])
                await #expect(throws: DeviceError.self) { _ = try await b.keypad.requestRating(ticket: nil, timeout: .seconds(1)) }
                b.simulator.setSilent(address: 1, false)
                _ = try await b.events.status("keypad-1", .online)
                let snapshot = try #require(await b.registry.snapshot(DeviceID("keypad-1")!))
                #expect(snapshot.counters[.communicationErrors] >= 2)
                // The display on the same line still answers.
                try await b.display.show(DisplayContent(lines: ["A003"]))
                #expect(b.simulator.shown(address: 2)?.lines == ["A003"])
            }
        }

        @Test("line noise is counted and does not stop the bus")
        func noise() async throws {
            try await Bench().run { b in
                for _ in 0..<5 { b.peer.send([0x68, 0x00, 0x99, 0x16, 0xFF, 0x68, 0x05, 0x06, 0x68]) }
                try await b.display.show(DisplayContent(lines: ["A001"]))
                #expect(b.simulator.shown(address: 2)?.lines == ["A001"])
                let rating = Task { try await b.keypad.requestRating(ticket: nil, timeout: .seconds(5)) }
                try await eventually("b.simulator.isEvaluating(address: 1)") { b.simulator.isEvaluating(address: 1) }
                b.simulator.pressRating(address: 1, key: 5)
                let level = try await rating.value
                #expect(level == .veryDissatisfied)
            }
        }

        @Test("the port hanging up takes both devices to noDevice; they return on a new pty with no restart")
        func hangUp() async throws {
            try await Bench().run { b in
                await b.peer.hangUp()
                _ = try await b.events.status("keypad-1", .noDevice)
                _ = try await b.events.next(EventType.deviceRemoved, device: "keypad-1")
                _ = try await b.events.status("display-1", .noDevice)
                try b.peer.plug()
                _ = try await b.events.status("keypad-1", .online)
                _ = try await b.events.status("display-1", .online)
                try await b.display.show(DisplayContent(lines: ["A002"]))
                #expect(b.simulator.shown(address: 2)?.lines == ["A002"])
            }
        }
    }
}

extension PeerTests {
    /// The daemon with hall-bus devices from configuration, against the simulator on a
    /// pty, driven through the API as a clerk program would.
    @Suite("halld with hall-bus devices", .timeLimit(.minutes(3)))
    struct HallBusDaemonTests {
        @Test("a rating through the API lights the evaluator and completes with the key's level; the display shows the call")
        func throughTheAPI() async throws {
            let dir = try temporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let simulator = FrameBusSimulator()
            simulator.add(.keypad, address: 1)
            simulator.add(.display, address: 2)
            let peer = try PtyPeer(path: dir + "/bus-1") { simulator.respond(to: $0) }
            defer { peer.hangUpSoon() }
            var config = try simulatedConfig(dir: dir)
            let toml = try String(contentsOfFile: repositoryRoot + "/Config/serial-demo.toml", encoding: .utf8)
                .replacingOccurrences(of: "\".run/bus-1\"", with: "\"\(dir)/bus-1\"")
            config.devices = try HallConfig.parse(toml, file: "serial-demo.toml").devices
            try await withDaemon(config) { socket in
                let client = HallClient(socketPath: socket)
                let devices: [DeviceSummary] = try await client.call("GET", "/v1/devices?kind=keypad")
                #expect(devices.map(\.driver) == ["hallbus"])
                #expect(devices.first?.state == .online)
                let shown: DisplayContent = try await client.call("PUT", "/v1/displays/display-1/content", json: DisplayContent(lines: ["A012 请到3号窗口"], effect: .flash))
                #expect(shown.lines == ["A012 请到3号窗口"])
                #expect(simulator.shown(address: 2)?.lines == ["A012 请到3号窗口"])

                let job: Job = try await client.call("POST", "/v1/keypads/keypad-1/ratings", json: RatingJobRequest(ticket: "A012", timeoutSeconds: 10))
                try await eventually("simulator.isEvaluating(address: 1)") { simulator.isEvaluating(address: 1) }
                #expect(simulator.pressRating(address: 1, key: 4))
                var done = job
                done = try await poll("the job at " + "/v1/rating-jobs/\(job.id)", { () async throws -> Job in try await client.call("GET", "/v1/rating-jobs/\(job.id)") }, until: { $0.state.isFinal })
                #expect(done.state == .completed)
                #expect(done.rating?.level == .dissatisfied)
                let detail: DeviceDetail = try await client.call("GET", "/v1/devices/keypad-1")
                #expect(detail.identity.connection?.contains("address 1") == true)
                #expect(detail.counters[.ratings] == 1)
            }
        }
    }
}

import HallAPIModels
import HallClient
@testable import HallDaemon
