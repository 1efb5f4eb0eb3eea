/// Everything the registry knows about one device at one moment.
public struct DeviceSnapshot: Sendable, Equatable {
    public var id: DeviceID
    public var kind: DeviceKind
    public var driver: String
    public var name: String
    public var status: DeviceStatus
    public var identity: DeviceIdentity
    public var capabilities: DeviceCapabilities
    public var counters: DeviceCounters
    public var lastError: LastError?
    /// Whether the device is open (it may still report a user or hardware error).
    public var isOpen: Bool
}
