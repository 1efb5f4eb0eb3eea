import Logging

/// What a device tells about itself when it opens.
public struct DeviceOpenInfo: Sendable {
    public var identity: DeviceIdentity
    public var capabilities: DeviceCapabilities
    public var status: DeviceStatus

    public init(identity: DeviceIdentity, capabilities: DeviceCapabilities, status: DeviceStatus = .online) {
        self.identity = identity
        self.capabilities = capabilities
        self.status = status
    }
}

/// Something a device tells the registry after it opened.
public enum DeviceSignal: Sendable {
    /// The device's condition changed (jam, cover, paper, communication).
    case status(DeviceStatus)
    /// The connection is gone (unplugged, port closed): the registry reopens it with backoff.
    case lost(DeviceStatus)
    /// The device is present again (hotplug): the registry retries now instead of
    /// waiting for the backoff.
    case present
    /// An event for clients (`keypad.key`, …), published as is.
    case event(type: String, data: JSONValue)
    /// Adds to a persistent counter.
    case count(CounterName, Int64)
}

/// Handed to a device when it opens: where it reports, and its logger (with
/// `device.id` and `driver` metadata already set).
public struct DeviceContext: Sendable {
    public let logger: Logger
    private let sink: @Sendable (DeviceSignal) -> Void

    public init(logger: Logger, sink: @escaping @Sendable (DeviceSignal) -> Void) {
        self.logger = logger
        self.sink = sink
    }

    public func report(_ signal: DeviceSignal) { sink(signal) }

    /// A context that drops everything: for devices used outside a registry.
    public static func detached(_ logger: Logger) -> DeviceContext { DeviceContext(logger: logger) { _ in } }
}

/// A device of any kind, driven by a driver. The capability protocols
/// (`Scanner`, `Printer`, `EvaluationKeypad`, `QueueDisplay`) add the work it does.
public protocol Device: AnyObject, Sendable {
    var id: DeviceID { get }
    var kind: DeviceKind { get }
    /// The driver's name as configuration spells it (`simulated`, `cups`, …).
    var driver: String { get }
    var name: String { get }

    /// Opens or reopens the device. Throws a `DeviceError` whose `state` says
    /// what the registry shows while it retries (`noDevice` when absent).
    func open(context: DeviceContext) async throws -> DeviceOpenInfo
    /// Releases the device; safe to call when it is not open.
    func close() async
    func healthCheck(_ level: HealthLevel) async throws -> HealthReport
    /// Work the device does while it is open (polling a bus). The registry runs it
    /// after each successful open and cancels it at shutdown; it returns when the
    /// device is closed or lost.
    func run(context: DeviceContext) async
}

extension Device {
    public func run(context: DeviceContext) async {}
}

/// Faults a simulated device takes through `POST /v1/devices/{id}/faults`.
public enum SimulatedFault: String, Sendable, Codable, CaseIterable {
    case jam, coverOpen, paperOut, timeout, garbled, unplug, replug
    /// Removes every fault (not unplug: use replug).
    case clear
}

/// A device whose faults can be injected: the simulated drivers.
public protocol FaultInjectable: Device {
    func inject(_ fault: SimulatedFault) async throws
}

/// A device with a reset below its driver (a USB port reset), done by
/// `POST /v1/devices/{id}/reset` between closing and reopening it.
public protocol HardwareResettable: Device {
    func hardwareReset() async throws
}
