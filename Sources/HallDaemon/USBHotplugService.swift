import DeviceKit
import Drivers
import Logging
import ServiceLifecycle
import Transports

/// Feeds USB arrivals and departures of devices configured by USB id into the
/// registry (`device.added` / `device.removed`): libusb hotplug callbacks where
/// libusb has them, else a rescan every `interval`.
public struct USBHotplugService: Service {
    let bus: any USBEnumeration
    let wanted: [USBPresence.Wanted]
    let registry: DeviceRegistry
    let interval: Duration
    let logger: Logger

    public init(bus: any USBEnumeration, wanted: [USBPresence.Wanted], registry: DeviceRegistry, interval: Duration = .seconds(2), logger: Logger) {
        self.bus = bus
        self.wanted = wanted
        self.registry = registry
        self.interval = interval
        self.logger = logger
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown { await follow() }
    }

    /// Enumerates once, then again after each change the bus reports.
    public func follow() async {
        var presence = USBPresence(wanted)
        let (changes, feed) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        await withDiscardingTaskGroup { group in
            group.addTask { await bus.watch(interval: interval) { feed.yield() } }
            await apply(&presence)
            for await _ in changes {
                await apply(&presence)
            }
        }
    }

    private func apply(_ presence: inout USBPresence) async {
        let devices: [USBDeviceInfo]
        do {
            devices = try await bus.devices()
        } catch {
            logger.warning("cannot enumerate USB devices: \(error)")
            return
        }
        for (id, present) in presence.changes(devices) {
            logger.notice("USB \(present ? "arrived" : "left"): \(id)", metadata: ["device.id": "\(id)"])
            await registry.hotplug(id, present: present)
        }
    }
}
