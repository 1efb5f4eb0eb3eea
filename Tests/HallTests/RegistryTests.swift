import DeviceKit
import Foundation
import Simulators
import Testing

@Suite("DeviceRegistry", .timeLimit(.minutes(3)))
struct RegistryTests {
    func makeRegistry(_ devices: [any Device], clock: ManualClock = ManualClock()) -> (DeviceRegistry, EventRecorder) {
        let recorder = EventRecorder()
        let registry = DeviceRegistry(devices: devices, events: recorder, clock: clock, retry: RetryPolicy(initial: .seconds(1), maximum: .seconds(4)), logger: testLogger)
        return (registry, recorder)
    }

    @Test("opens every device and publishes starting -> online")
    func opensAll() async throws {
        let keypad = SimulatedKeypad(id: DeviceID("keypad-1")!, name: "k")
        let display = SimulatedDisplay(id: DeviceID("display-1")!, name: "d")
        let (registry, events) = makeRegistry([keypad, display])
        let run = Task { await registry.run() }
        defer { run.cancel() }
        let e = try await events.status("keypad-1", .online)
        #expect(e.data["previousState"]?.stringValue == "starting")
        _ = try await events.status("display-1", .online)
        await registry.waitUntilAllAttempted()
        let snap = try #require(await registry.snapshot(DeviceID("keypad-1")!))
        #expect(snap.status == .online)
        #expect(snap.capabilities.keyCount == 5)
        #expect(snap.counters[.opens] == 1)
    }

    @Test("a device that does not open is retried with doubling backoff, capped, without touching the others")
    func backoff() async throws {
        let clock = ManualClock()
        let flaky = FlakyDevice(id: "flaky", failing: true)
        let display = SimulatedDisplay(id: DeviceID("display-1")!, name: "d")
        let (registry, events) = makeRegistry([flaky, display], clock: clock)
        let run = Task { await registry.run() }
        defer { run.cancel() }
        try await eventually("the first attempt", seen: { "\(await flaky.attempts) attempts" }) { await flaky.attempts == 1 }
        let down = try await events.status("flaky", .noDevice)
        #expect(down.data["reasons"] == ["device-absent-error"])
        _ = try await events.status("display-1", .online)
        // 1 s, then 2 s, then 4 s, then 4 s (the cap).
        for (step, expected) in [(1, 2), (2, 3), (4, 4), (4, 5)] {
            // The retry's sleep is on the clock before the clock moves.
            try await clock.waitForSleepers()
            clock.advance(by: .seconds(step - 1))
            #expect(await flaky.attempts == expected - 1, "no attempt before the backoff of \(step) s ran out")
            clock.advance(by: .seconds(1))
            try await eventually("attempt \(expected)", seen: { "\(await flaky.attempts) attempts" }) { await flaky.attempts == expected }
        }
        await flaky.setFailing(false)
        try await clock.waitForSleepers()
        clock.advance(by: .seconds(4))
        try await eventually("attempt 6", seen: { "\(await flaky.attempts) attempts" }) { await flaky.attempts == 6 }
        _ = try await events.next(EventType.deviceAdded, device: "flaky")
        _ = try await events.status("flaky", .online)
        // The display never changed state meanwhile.
        #expect(events.all.filter { $0.device?.rawValue == "display-1" && $0.type == EventType.deviceStatus }.count == 1)
        let snap = try #require(await registry.snapshot(DeviceID("flaky")!))
        #expect(snap.lastError?.code == .deviceNotReady)
    }

    @Test("a device that drops is reopened; the backoff starts again at the initial delay")
    func dropAndRecover() async throws {
        let clock = ManualClock()
        let flaky = FlakyDevice(id: "flaky", failing: false)
        let (registry, events) = makeRegistry([flaky], clock: clock)
        let run = Task { await registry.run() }
        defer { run.cancel() }
        _ = try await events.status("flaky", .online)
        await flaky.drop()
        _ = try await events.next(EventType.deviceRemoved, device: "flaky")
        _ = try await events.status("flaky", .noDevice)
        try await clock.waitForSleepers()
        clock.advance(by: .seconds(1))
        _ = try await events.status("flaky", .online)
        #expect(await flaky.attempts == 2)
    }

    @Test("faults show in state and reasons; unplug and replug go through noDevice and back")
    func faults() async throws {
        let printer = SimulatedPrinter(id: DeviceID("printer-1")!, name: "p")
        let (registry, events) = makeRegistry([printer])
        let run = Task { await registry.run() }
        defer { run.cancel() }
        _ = try await events.status("printer-1", .online)

        try await printer.inject(.jam)
        let jam = try await events.status("printer-1", .userError)
        #expect(jam.data["reasons"] == ["media-jam-error"])
        await #expect(throws: DeviceError.self) { _ = try await printer.print(PrintDocument(format: "text", data: Data("x".utf8), title: "t")) }
        try await printer.inject(.clear)
        _ = try await events.status("printer-1", .online)

        try await printer.inject(.unplug)
        _ = try await events.next(EventType.deviceRemoved, device: "printer-1")
        _ = try await events.status("printer-1", .noDevice)
        try await printer.inject(.replug)
        _ = try await events.next(EventType.deviceAdded, device: "printer-1")
        _ = try await events.status("printer-1", .online)
        let snap = try #require(await registry.snapshot(DeviceID("printer-1")!))
        #expect(snap.counters[.opens] == 2)
    }

    @Test("reset closes and reopens, counting it")
    func reset() async throws {
        let keypad = SimulatedKeypad(id: DeviceID("keypad-1")!, name: "k")
        let (registry, events) = makeRegistry([keypad])
        let run = Task { await registry.run() }
        defer { run.cancel() }
        _ = try await events.status("keypad-1", .online)
        let after = try await registry.reset(DeviceID("keypad-1")!)
        #expect(after.status == .online)
        #expect(after.counters[.resets] == 1)
        #expect(after.counters[.opens] == 2)
        await #expect(throws: DeviceError.self) { _ = try await registry.reset(DeviceID("nope")!) }
    }

    @Test("settle: a key press is counted when it returns; one that nothing answers (the registry not running) ends when its task is cancelled")
    func settle() async throws {
        let keypad = SimulatedKeypad(id: DeviceID("keypad-1")!, name: "k")
        let (registry, events) = makeRegistry([keypad])
        let returned = Flag()
        let waiting = Task {
            await registry.settle(DeviceID("keypad-1")!)
            returned.set()
        }
        try await Task.sleep(for: .milliseconds(100))
        #expect(!returned.isSet, "settle returned while nothing applied the device's signals")
        waiting.cancel()
        try await eventually("settle returns once its task is cancelled", within: .seconds(5)) { returned.isSet }

        let run = Task { await registry.run() }
        defer { run.cancel() }
        _ = try await events.status("keypad-1", .online)
        _ = try await keypad.press(.satisfied)
        await registry.settle(DeviceID("keypad-1")!)
        #expect(await registry.snapshot(DeviceID("keypad-1")!)?.counters[.keyPresses] == 1)
    }

    @Test("with no devices it runs until cancelled, as the daemon's service must (a PC kept for its hall)")
    func noDevices() async throws {
        let (registry, _) = makeRegistry([])
        actor Flag {
            var value = false
            func set() { value = true }
        }
        let returned = Flag()
        let run = Task {
            await registry.run()
            await returned.set()
        }
        defer { run.cancel() }
        try await Task.sleep(for: .milliseconds(300))
        #expect(await !returned.value, "run() returned with no devices before it was cancelled")
        run.cancel()
        try await eventually("run() returns once cancelled", within: .seconds(5)) { await returned.value }
    }
}
