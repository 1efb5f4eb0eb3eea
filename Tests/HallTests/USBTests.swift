import DeviceKit
import Drivers
import Foundation
@testable import HallConfiguration
@testable import HallDaemon
import Synchronization
import Testing
import Transports

/// A USB bus whose devices the test plugs and pulls.
final class FakeUSBBus: USBEnumeration {
    private let state = Mutex<(devices: [USBDeviceInfo], watchers: [@Sendable () -> Void], resets: [USBDeviceInfo])>(([], [], []))

    func plug(_ d: USBDeviceInfo) { notify { $0.devices.append(d) } }
    func pull(_ d: USBDeviceInfo) { notify { $0.devices.removeAll { $0 == d } } }
    var resets: [USBDeviceInfo] { state.withLock { $0.resets } }

    private func notify(_ change: (inout (devices: [USBDeviceInfo], watchers: [@Sendable () -> Void], resets: [USBDeviceInfo])) -> Void) {
        let watchers = state.withLock { s in
            change(&s)
            return s.watchers
        }
        watchers.forEach { $0() }
    }

    func devices() async throws -> [USBDeviceInfo] { state.withLock { $0.devices } }

    func watch(interval: Duration, _ changed: @escaping @Sendable () -> Void) async {
        state.withLock { $0.watchers.append(changed) }
        while !Task.isCancelled { try? await Task.sleep(for: .seconds(3600)) }
    }

    func reset(_ device: USBDeviceInfo) async throws { state.withLock { $0.resets.append(device) } }
}

/// A device that opens only while its USB id is on the fake bus.
actor USBBackedDevice: Device, HardwareResettable {
    nonisolated let id: DeviceID
    nonisolated let kind = DeviceKind.scanner
    nonisolated let driver = "test"
    nonisolated let name = "usb scanner"
    let usb: USBID
    let bus: FakeUSBBus

    init(id: String, usb: USBID, bus: FakeUSBBus) {
        self.id = DeviceID(id)!
        self.usb = usb
        self.bus = bus
    }

    func open(context: DeviceContext) async throws -> DeviceOpenInfo {
        guard let d = try await bus.devices().first(where: { $0.id == usb }) else {
            throw DeviceError(.deviceNotReady, "no USB \(usb)", device: id, reasons: [Reason.deviceAbsent], state: .noDevice)
        }
        return DeviceOpenInfo(identity: DeviceIdentity(connection: "usb \(d.portPath)"), capabilities: DeviceCapabilities())
    }

    func close() async {}
    func healthCheck(_ level: HealthLevel) async throws -> HealthReport { HealthReport(device: id, level: level, checks: []) }

    func hardwareReset() async throws {
        guard let d = try await bus.devices().first(where: { $0.id == usb }) else { return }
        try await bus.reset(d)
    }
}

@Suite("USB", .timeLimit(.minutes(3)))
struct USBTests {
    let fujitsu = USBDeviceInfo(id: USBID("04c5:132e")!, serialNumber: "A1B2", bus: 1, address: 5, portPath: "1-1.4")

    @Test("USB ids parse; the match table maps ids to kinds and SANE backends, products before vendors")
    func matchTable() {
        #expect(USBID("04c5:132e") == USBID(vendor: 0x04C5, product: 0x132E))
        #expect(USBID("04c5-132e") == nil)
        #expect(USBID("4c5:132e") == nil)
        #expect(USBMatchTable.match(USBID("04c5:132e")!)?.role == .scanner(backend: "fujitsu"))
        #expect(USBMatchTable.match(USBID("04c5:132e")!)?.kind == .scanner)
        #expect(USBMatchTable.match(USBID("1a86:7523")!)?.role == .serialAdapter)
        #expect(USBMatchTable.match(USBID("1a86:5523")!) == nil)
        #expect(fujitsu.saneLibUSBName == "libusb:001:005")
    }

    @Test("pulling and plugging a scanner's USB device gives device.removed and device.added, and the registry reopens it at once")
    func hotplug() async throws {
        let bus = FakeUSBBus()
        bus.plug(fujitsu)
        let device = USBBackedDevice(id: "scanner-1", usb: fujitsu.id, bus: bus)
        let events = EventRecorder()
        // A long backoff: only the hotplug report can bring the scanner back quickly.
        let registry = DeviceRegistry(devices: [device], events: events, retry: RetryPolicy(initial: .seconds(600), maximum: .seconds(600)), logger: testLogger)
        let service = USBHotplugService(
            bus: bus, wanted: [USBPresence.Wanted(device: device.id, usb: fujitsu.id, serialNumber: "A1B2")], registry: registry, logger: testLogger)
        let run = Task { await registry.run() }
        let watch = Task { await service.follow() }
        defer {
            run.cancel()
            watch.cancel()
        }
        _ = try await events.status("scanner-1", .online)
        try await Task.sleep(for: .milliseconds(50))
        bus.pull(fujitsu)
        _ = try await events.next(EventType.deviceRemoved, device: "scanner-1")
        #expect(await registry.snapshot(device.id)?.status.state == .noDevice)
        bus.plug(fujitsu)
        _ = try await events.next(EventType.deviceAdded, device: "scanner-1")
        _ = try await events.status("scanner-1", .online)
        // Another scanner of the same model with another serial number is not this one.
        var presence = USBPresence([USBPresence.Wanted(device: device.id, usb: fujitsu.id, serialNumber: "A1B2")])
        var other = fujitsu
        other.serialNumber = "ZZZ"
        #expect(presence.changes([fujitsu]).isEmpty)
        #expect(presence.changes([other]).map(\.1) == [false])
        // POST /v1/devices/{id}/reset resets its USB port.
        _ = try await registry.reset(device.id)
        #expect(bus.resets == [fujitsu])
    }

    @Test("libusb on this machine: enumeration answers with devices or a clear error, never a crash")
    func libusb() async {
        do {
            let devices = try await LibUSBBus().devices()
            for d in devices { #expect(!d.portPath.isEmpty) }
        } catch let e as DeviceError {
            #expect(!e.message.isEmpty)
        } catch {
            Issue.record("unexpected error \(error)")
        }
    }

    @Test("scanners are configured by SANE name or by USB id")
    func config() throws {
        let c = try HallConfig.parse("[[device]]\nid=\"s\"\nkind=\"scanner\"\ndriver=\"sane\"\nusb=\"04c5:132e\"\nusb_serial=\"A1B2\"\n", file: "t.toml")
        #expect(c.devices[0].sane?.usb == USBID("04c5:132e"))
        #expect(c.devices[0].sane?.usbSerial == "A1B2")
        #expect(throws: ConfigError.self) { try HallConfig.parse("[[device]]\nid=\"s\"\nkind=\"scanner\"\ndriver=\"sane\"\nusb=\"04c5\"\n", file: "t.toml") }
    }
}
