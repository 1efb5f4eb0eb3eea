import DeviceKit
import Drivers
import Foundation
import Synchronization
import Testing
import Transports
import WireProtocols

/// Drivers over a simulated transport (a recording played back) with an injected
/// clock: the time a rating request waits is the clock's, not the machine's.
@Suite("drivers over a replayed line with an injected clock", .timeLimit(.minutes(3)))
struct ReplayClockTests {
    /// A recording where the evaluator acknowledges everything and nobody presses a key.
    static func recording(_ exchanges: [([UInt8], [UInt8])]) -> SerialRecording {
        SerialRecording(chunks: exchanges.enumerated().flatMap { i, e in
            [SerialRecording.Chunk(seconds: Double(i) * 0.02, direction: .tx, bytes: e.0), SerialRecording.Chunk(seconds: Double(i) * 0.02 + 0.01, direction: .rx, bytes: e.1)]
        })
    }

    /// Runs `keypad` under a registry and asks for a rating with a 30 s timeout, advancing
    /// the test clock a second at a time; returns the error and the seconds advanced.
    static func unansweredRating(_ keypad: any EvaluationKeypad, clock: ManualClock) async throws -> (DeviceError?, Int) {
        let events = EventRecorder()
        let registry = DeviceRegistry(devices: [keypad], events: events, clock: clock, retry: RetryPolicy(initial: .seconds(1), maximum: .seconds(2)), logger: testLogger)
        let run = Task { await registry.run() }
        defer { run.cancel() }
        _ = try await events.status(keypad.id.rawValue, .online)
        let outcome = Mutex<DeviceError??>(nil)
        let rating = Task {
            do {
                _ = try await keypad.requestRating(ticket: "A001", timeout: .seconds(30))
                outcome.withLock { $0 = .some(nil) }
            } catch let e as DeviceError {
                outcome.withLock { $0 = .some(e) }
            } catch {
                outcome.withLock { $0 = .some(DeviceError(.hardwareError, "\(error)")) }
            }
        }
        var advanced = 0
        while outcome.withLock({ $0 == nil }) && advanced < 120 {
            for _ in 0..<20 { await Task.yield() }
            try await Task.sleep(for: .milliseconds(2))
            clock.advance(by: .seconds(1))
            advanced += 1
        }
        _ = await rating.result
        return (outcome.withLock { $0 ?? nil }, advanced)
    }

    @Test("a profile keypad's rating request times out by the injected clock into timeOut")
    func profileKeypad() async throws {
        let poll = HallBus.frame(to: 1, .poll), idle = FrameProfile.hallBus.encode(Frame(address: 1, command: 0))
        let replay = ReplayPort(Self.recording([(poll, idle), (HallBus.frame(to: 1, .evaluation, [0x0B]), idle), (poll, idle), (poll, idle)]))
        let clock = ManualClock()
        let keypad = ProfileKeypad(
            id: DeviceID("keypad-1")!, name: "k", link: FrameLink(line: SerialLine(replaying: replay), address: 1, timeout: .milliseconds(200), retries: 0),
            pollInterval: .milliseconds(200), clock: clock)
        let (error, advanced) = try await Self.unansweredRating(keypad, clock: clock)
        #expect(error?.code == .timeOut)
        #expect((30...60).contains(advanced), "timed out after \(advanced) s of the test clock; 30 s were asked for")
        #expect(replay.counts.unanswered == 0)
    }

    @Test("a Modbus keypad's rating request times out by the injected clock and ends the evaluation on the device")
    func modbusKeypad() async throws {
        func exchange(_ r: ModbusRequest, _ answer: ModbusResponse) -> ([UInt8], [UInt8]) { (r.encode(), answer.encode(for: r)) }
        let poll = ModbusRequest.readHolding(unit: 1, address: 1, count: 1)
        let clear = ModbusRequest.writeRegister(unit: 1, address: 1, value: 0)
        let start = ModbusRequest.writeRegister(unit: 1, address: 0, value: 1)
        let stop = ModbusRequest.writeRegister(unit: 1, address: 0, value: 0)
        let replay = ReplayPort(Self.recording([
            exchange(poll, .registers([0])), exchange(clear, .written(address: 1, value: 0)), exchange(start, .written(address: 0, value: 1)),
            exchange(poll, .registers([0])), exchange(stop, .written(address: 0, value: 0)),
        ]))
        let clock = ManualClock()
        let keypad = ModbusKeypad(
            id: DeviceID("keypad-2")!, name: "k", line: SerialLine(replaying: replay), unit: 1, timeout: .milliseconds(200), retries: 0,
            pollInterval: .milliseconds(200), clock: clock)
        let (error, advanced) = try await Self.unansweredRating(keypad, clock: clock)
        #expect(error?.code == .timeOut)
        #expect((30...60).contains(advanced))
        #expect(replay.finished, "the evaluation was not ended on the device (start register back to 0)")
        #expect(replay.counts.unanswered == 0)
    }
}
