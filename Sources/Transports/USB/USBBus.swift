import CLibUSB
import DeviceKit
import Foundation
import Synchronization

/// One device on the USB bus.
public struct USBDeviceInfo: Sendable, Hashable {
    public var id: USBID
    public var serialNumber: String?
    public var bus: Int
    public var address: Int
    /// Port path as udev writes it under /dev/serial/by-path and sysfs: `1-1.4`.
    public var portPath: String

    public init(id: USBID, serialNumber: String? = nil, bus: Int, address: Int, portPath: String) {
        self.id = id
        self.serialNumber = serialNumber
        self.bus = bus
        self.address = address
        self.portPath = portPath
    }

    /// How SANE's USB backends name the device: `libusb:BBB:DDD`.
    public var saneLibUSBName: String { String(format: "libusb:%03d:%03d", bus, address) }
}

/// The USB bus as halld sees it: enumeration, change notifications, and a port
/// reset. `LibUSBBus` is the real one; tests use a fake, since the machines that
/// run them may have no USB bus.
public protocol USBEnumeration: Sendable {
    func devices() async throws -> [USBDeviceInfo]
    /// Calls `changed` when devices arrive or leave: from libusb hotplug callbacks
    /// where libusb supports them, else after a rescan every `interval` found a difference.
    func watch(interval: Duration, _ changed: @escaping @Sendable () -> Void) async
    func reset(_ device: USBDeviceInfo) async throws
}

/// libusb-1.0 on a thread of its own.
public final class LibUSBBus: USBEnumeration {
    private let worker = BlockingWorker(name: "libusb")
    private let context = Mutex<UInt>(0)

    public init() {}

    deinit {
        let ctx = context.withLock { $0 }
        if ctx != 0 { libusb_exit(OpaquePointer(bitPattern: ctx)) }
        worker.stop()
    }

    private func call<T: Sendable>(_ work: @escaping @Sendable (OpaquePointer?) throws -> T) async throws -> T {
        try await worker.run { [self] in
            let ctx = try self.context.withLock { c -> UInt in
                if c == 0 {
                    var new: OpaquePointer?
                    let rc = libusb_init(&new)
                    guard rc == 0 else { throw Self.error(rc, "libusb_init") }
                    c = UInt(bitPattern: new)
                }
                return c
            }
            return try work(OpaquePointer(bitPattern: ctx))
        }
    }

    static func error(_ rc: Int32, _ doing: String) -> DeviceError {
        let name = String(cString: libusb_error_name(rc))
        switch rc {
        case LIBUSB_ERROR_NO_DEVICE.rawValue, LIBUSB_ERROR_NOT_FOUND.rawValue:
            return DeviceError(.deviceNotReady, "\(doing): \(name)", reasons: [Reason.deviceAbsent], state: .noDevice)
        case LIBUSB_ERROR_ACCESS.rawValue:
            return DeviceError(.deviceNotReady, "\(doing): \(name): the udev rules give halld's group access", reasons: ["permission-denied-error"], state: .offline)
        default:
            return DeviceError(.hardwareError, "\(doing): \(name)", state: .hardwareError)
        }
    }

    public func devices() async throws -> [USBDeviceInfo] {
        try await call { ctx in
            var list: UnsafeMutablePointer<OpaquePointer?>?
            let count = libusb_get_device_list(ctx, &list)
            guard count >= 0 else { throw Self.error(Int32(count), "listing USB devices") }
            defer { libusb_free_device_list(list, 1) }
            return (0..<count).compactMap { i in list?[i].flatMap(Self.info) }
        }
    }

    static func info(_ device: OpaquePointer) -> USBDeviceInfo? {
        var d = libusb_device_descriptor()
        guard libusb_get_device_descriptor(device, &d) == 0 else { return nil }
        let bus = Int(libusb_get_bus_number(device))
        var ports = [UInt8](repeating: 0, count: 8)
        let n = libusb_get_port_numbers(device, &ports, Int32(ports.count))
        let path = n > 0 ? "\(bus)-" + ports[0..<Int(n)].map(String.init).joined(separator: ".") : "\(bus)"
        var serial: String?
        if d.iSerialNumber != 0 {
            var handle: OpaquePointer?
            // Reading strings needs the device opened: without permission the serial stays unknown.
            if libusb_open(device, &handle) == 0, let handle {
                var buffer = [UInt8](repeating: 0, count: 128)
                let len = libusb_get_string_descriptor_ascii(handle, d.iSerialNumber, &buffer, Int32(buffer.count))
                if len > 0 { serial = String(decoding: buffer[0..<Int(len)], as: UTF8.self) }
                libusb_close(handle)
            }
        }
        return USBDeviceInfo(
            id: USBID(vendor: d.idVendor, product: d.idProduct), serialNumber: serial, bus: bus, address: Int(libusb_get_device_address(device)), portPath: path)
    }

    public func reset(_ target: USBDeviceInfo) async throws {
        try await call { ctx in
            var list: UnsafeMutablePointer<OpaquePointer?>?
            let count = libusb_get_device_list(ctx, &list)
            guard count >= 0 else { throw Self.error(Int32(count), "listing USB devices") }
            defer { libusb_free_device_list(list, 1) }
            guard let device = (0..<count).compactMap({ list?[$0] }).first(where: {
                Int(libusb_get_bus_number($0)) == target.bus && Int(libusb_get_device_address($0)) == target.address
            }) else {
                throw DeviceError(.deviceNotReady, "USB device \(target.id) at \(target.portPath) is gone", reasons: [Reason.deviceAbsent], state: .noDevice)
            }
            var handle: OpaquePointer?
            let rc = libusb_open(device, &handle)
            guard rc == 0, let handle else { throw Self.error(rc, "opening \(target.id) for a reset") }
            defer { libusb_close(handle) }
            let reset = libusb_reset_device(handle)
            // After a reset the device may come back under a new address: NOT_FOUND means it re-enumerated.
            guard reset == 0 || reset == LIBUSB_ERROR_NOT_FOUND.rawValue else { throw Self.error(reset, "resetting \(target.id)") }
        }
    }

    public func watch(interval: Duration, _ changed: @escaping @Sendable () -> Void) async {
        let hotplug = (try? await call { _ in libusb_has_capability(UInt32(LIBUSB_CAP_HAS_HOTPLUG.rawValue)) != 0 }) ?? false
        if hotplug, await watchHotplug(changed) { return }
        // No hotplug (or no USB at all here): rescan and compare.
        var last = Set((try? await devices()) ?? [])
        while !Task.isCancelled {
            do { try await Task.sleep(for: interval) } catch { return }
            let now = Set((try? await devices()) ?? [])
            if now != last { changed() }
            last = now
        }
    }

    /// Registers a libusb hotplug callback and handles libusb events on a thread of
    /// its own until the task is cancelled; false when registration fails.
    private func watchHotplug(_ changed: @escaping @Sendable () -> Void) async -> Bool {
        let box = Unmanaged.passRetained(HotplugBox(changed))
        let registered: Int32? = try? await call { ctx in
            var handle: libusb_hotplug_callback_handle = 0
            let events = Int32(LIBUSB_HOTPLUG_EVENT_DEVICE_ARRIVED.rawValue | LIBUSB_HOTPLUG_EVENT_DEVICE_LEFT.rawValue)
            let rc = libusb_hotplug_register_callback(
                ctx, events, 0, LIBUSB_HOTPLUG_MATCH_ANY, LIBUSB_HOTPLUG_MATCH_ANY,
                LIBUSB_HOTPLUG_MATCH_ANY,
                { _, _, _, userData in
                    Unmanaged<HotplugBox>.fromOpaque(userData!).takeUnretainedValue().changed()
                    return 0
                }, box.toOpaque(), &handle)
            return rc == 0 ? Int32(handle) : nil
        } ?? nil
        guard registered != nil else {
            box.release()
            return false
        }
        let ctx = context.withLock { $0 }
        let stop = Mutex(false)
        let thread = Thread {
            var tv = timeval(tv_sec: 1, tv_usec: 0)
            while !stop.withLock({ $0 }) {
                _ = libusb_handle_events_timeout_completed(OpaquePointer(bitPattern: ctx), &tv, nil)
            }
        }
        thread.name = "libusb events"
        thread.start()
        await withTaskCancellationHandler {
            while !Task.isCancelled { try? await Task.sleep(for: .seconds(3600)) }
        } onCancel: {
            stop.withLock { $0 = true }
        }
        return true
    }
}

/// Carries the Swift closure through libusb's `void *user_data`.
private final class HotplugBox: Sendable {
    let changed: @Sendable () -> Void
    init(_ changed: @escaping @Sendable () -> Void) { self.changed = changed }
}
