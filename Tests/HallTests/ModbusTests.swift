import ChildProcess
import DeviceKit
import Drivers
import Foundation
import Testing
import Transports
import WireProtocols

@Suite("Modbus RTU", .timeLimit(.minutes(3)))
struct ModbusCodecTests {
    @Test("requests have the documented bytes and CRC")
    func requests() {
        #expect(ModbusRequest.readHolding(unit: 1, address: 0, count: 10).encode() == [0x01, 0x03, 0x00, 0x00, 0x00, 0x0A, 0xC5, 0xCD])
        #expect(ModbusRequest.writeRegister(unit: 0x11, address: 1, value: 3).encode() == [0x11, 0x06, 0x00, 0x01, 0x00, 0x03, 0x9A, 0x9B])
        let multiple = ModbusRequest.writeRegisters(unit: 1, address: 16, values: [0xC7EB, 0x0A00]).encode()
        #expect(Array(multiple.prefix(7)) == [0x01, 0x10, 0x00, 0x10, 0x00, 0x02, 0x04])
    }

    @Test("answers decode from any chunking; noise, other units and bad CRCs are dropped and noted")
    func answers() {
        let request = ModbusRequest.readHolding(unit: 1, address: 0, count: 2)
        let pdu: [UInt8] = [0x01, 0x03, 0x04, 0x00, 0x02, 0xC7, 0xEB]
        let answer = pdu + ChecksumAlgorithm.crc16modbus.wire(pdu)
        var bad = answer
        bad[4] ^= 0x01
        let other = [0x02] + answer.dropFirst()
        for chunk in [1, 2, 5, 64] {
            var reader = ModbusResponseReader(request: request)
            let stream = [0x00, 0x99] + bad + other + answer
            var result: ModbusResponse?
            var i = 0
            while i < stream.count, result == nil {
                result = reader.consume(Array(stream[i..<min(stream.count, i + chunk)]))
                i += chunk
            }
            #expect(result == .registers([0x0002, 0xC7EB]), "chunk \(chunk)")
            #expect(reader.noise.contains { $0.hasPrefix("CRC") })
        }
        let exception: [UInt8] = [0x01, 0x83, 0x02]
        var reader = ModbusResponseReader(request: request)
        #expect(reader.consume(exception + ChecksumAlgorithm.crc16modbus.wire(exception)) == .exception(function: 0x03, code: 2))
        #expect(ModbusResponse.describe(exception: 2) == "illegal data address")
    }

    @Test("the server side finds requests in noise from any chunking, and its answers read back on the master side")
    func serverSide() {
        let requests: [ModbusRequest] = [
            .readHolding(unit: 1, address: 1, count: 1), .writeRegister(unit: 1, address: 0, value: 1),
            .writeRegisters(unit: 6, address: 16, values: [0xC7EB, 0xB5BD, 0x0A00]), .readCoils(unit: 3, address: 0, count: 9),
        ]
        var garbled = requests[0].encode()
        garbled[3] ^= 0x40
        let stream = [0xFF, 0x10, 0x00] + garbled + requests.flatMap { $0.encode() } + [0x01]
        for chunk in [1, 3, 7, 100] {
            var decoder = ModbusRequestDecoder()
            var found: [ModbusRequest] = []
            var i = 0
            while i < stream.count {
                found += decoder.feed(stream[i..<min(stream.count, i + chunk)])
                i += chunk
            }
            #expect(found == requests, "chunk \(chunk)")
            #expect(decoder.droppedBytes >= 3 + garbled.count - 1)
        }
        let answers: [(ModbusRequest, ModbusResponse)] = [
            (requests[0], .registers([3])), (requests[2], .written(address: 16, value: 3)), (requests[1], .exception(function: 0x06, code: 0x02)),
        ]
        for (request, response) in answers {
            var reader = ModbusResponseReader(request: request)
            #expect(reader.consume(response.encode(for: request)) == response)
        }
    }
}

extension PeerTests {
    /// The Modbus drivers against pymodbus, a Modbus RTU server written by others, on a
    /// pty pair made by socat.
    @Suite("Modbus drivers against pymodbus", .timeLimit(.minutes(3)))
    struct ModbusPeerTests {
        /// socat's pty pair, pymodbus on one end. `stop` ends both.
        final class Peers: Sendable {
            let dir: String
            let socat: Child
            let server = Mutex<Child?>(nil)

            struct PeerError: Error, CustomStringConvertible {
                let description: String
                init(_ d: String) { description = d }
            }

            private init(dir: String, socat: Child) {
                self.dir = dir
                self.socat = socat
            }

            static func start() async throws -> Peers {
                let dir = try temporaryDirectory()
                let socat: Child
                do {
                    socat = try await Child.start(["/usr/bin/socat", "pty,raw,echo=0,link=\(dir)/halld-side", "pty,raw,echo=0,link=\(dir)/server-side"])
                } catch {
                    throw PeerError("cannot start socat (make test installs it): \(error)")
                }
                let peers = Peers(dir: dir, socat: socat)
                do {
                    try await eventually("socat's pty links", within: .seconds(10), every: .milliseconds(10), seen: { socat.output }) {
                        guard socat.isRunning else { throw PeerError("socat exited: \(socat.output)") }
                        return FileManager.default.fileExists(atPath: dir + "/server-side") && FileManager.default.fileExists(atPath: dir + "/halld-side")
                    }
                    try await peers.startServer()
                } catch {
                    await peers.stop()
                    throw error
                }
                return peers
            }

            func startServer() async throws {
                let p = try await Child.start(["/usr/bin/env", "python3", repositoryRoot + "/Tests/peers/modbus_server.py", dir + "/server-side"])
                // pymodbus may print notices first; "ready" comes once the port is open.
                do {
                    try await p.waitForOutput("ready\n", within: .seconds(20))
                } catch {
                    await p.stop(signal: SIGKILL)
                    throw PeerError("pymodbus did not start (is it installed? make test installs it): \(error)")
                }
                server.withLock { $0 = p }
            }

            /// Freezes or thaws the server: a device that stops answering, then answers again.
            func signalServer(_ signal: Int32) {
                server.withLock { $0 }?.signal(signal)
            }

            /// The server is a device that loses power: no goodbye (pymodbus would catch SIGTERM).
            func stopServer() async {
                let p = server.withLock { s -> Child? in
                    defer { s = nil }
                    return s
                }
                if let p { await p.stop(signal: SIGKILL) }
            }

            func stop() async {
                await stopServer()
                await socat.stop(signal: SIGKILL)
                try? FileManager.default.removeItem(atPath: dir)
            }
        }

        /// The test's own requests on the shared line, as the keypad's hardware would change its registers.
        struct Reader: AnswerReader {
            var reader: ModbusResponseReader
            var noise: [String] { reader.noise }
            mutating func consume(_ bytes: [UInt8]) -> ModbusResponse? { reader.consume(bytes) }
        }

        static func request(_ line: SerialLine, _ r: ModbusRequest) async throws -> ModbusResponse? {
            if case .answer(let response, _) = try await line.exchange(r.encode(), timeout: .seconds(1), reader: Reader(reader: ModbusResponseReader(request: r))) {
                return response
            }
            return nil
        }

        @Test("display text lands in the server's registers; a rating is read from the result register; exceptions and a server that goes away are handled")
        func endToEnd() async throws {
            let peers = try await Peers.start()
            do {
                try await Self.endToEnd(peers)
            } catch {
                await peers.stop()
                throw error
            }
            await peers.stop()
        }

        static func endToEnd(_ peers: Peers) async throws {
            let line = SerialLine(path: peers.dir + "/halld-side", settings: SerialSettings(baud: 9600), gap: .milliseconds(2))
            var displayMap = ModbusRegisterMap()
            displayMap.effectRegister = 10
            let keypad = ModbusKeypad(id: DeviceID("keypad-1")!, name: "k", line: line, unit: 1, timeout: .milliseconds(500), retries: 1, pollInterval: .milliseconds(30))
            let display = ModbusDisplay(
                id: DeviceID("display-1")!, name: "d", line: line, unit: 2, map: displayMap, lines: 2, columns: 16, timeout: .seconds(1), retries: 2,
                pollInterval: .milliseconds(100))
            let events = EventRecorder()
            let registry = DeviceRegistry(devices: [keypad, display], events: events, retry: RetryPolicy(initial: .milliseconds(50), maximum: .milliseconds(200)), logger: testLogger)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { await registry.run() }
                _ = try await events.status("keypad-1", .online)
                _ = try await events.status("display-1", .online)

                try await display.show(DisplayContent(lines: ["A012 请到3号窗口", "请稍候"], effect: .flash))
                let text = try await display.readText()
                let used = Array(text.prefix { $0 != 0 })
                #expect(TextEncoding.gb2312.decode(used) == "A012 请到3号窗口\n请稍候")
                #expect(try await Self.request(line, .readHolding(unit: 2, address: 10, count: 1)) == .registers([2]))

                let rating = Task { try await keypad.requestRating(ticket: "A007", timeout: .seconds(5)) }
                while try await Self.request(line, .readHolding(unit: 1, address: 0, count: 1)) != .registers([1]) { await Task.yield() }
                _ = try await Self.request(line, .writeRegister(unit: 1, address: 1, value: 3))
                let level = try await rating.value
                #expect(level == .basicallySatisfied)
                #expect(try await Self.request(line, .readHolding(unit: 1, address: 0, count: 2)) == .registers([0, 0]), "start and result are cleared")
                let stored = try await events.next(EventType.keypadRating, device: "keypad-1")
                #expect(stored.data["ticket"]?.stringValue == "A007")

                // A register outside the server's map: pymodbus answers exception 2.
                var far = ModbusRegisterMap()
                far.effectRegister = 500
                let wrong = ModbusDisplay(id: DeviceID("display-9")!, name: "x", line: line, unit: 2, map: far, timeout: .seconds(1), retries: 1)
                _ = try await wrong.open(context: .detached(testLogger))
                await #expect(throws: DeviceError.self) { try await wrong.show(DisplayContent(lines: ["A1"])) }

                // The server stops answering: the devices go offline after their retries, and return with it.
                peers.signalServer(SIGSTOP)
                _ = try await events.status("keypad-1", .offline)
                peers.signalServer(SIGCONT)
                _ = try await events.status("keypad-1", .online)
                group.cancelAll()
            }
        }
    }
}

import Synchronization
