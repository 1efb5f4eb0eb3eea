/// Limits every listener applies, so one client cannot starve the others.
public struct ConnectionLimits: Sendable, Equatable {
    /// Open connections on one listener; a connection beyond it gets `503` and is closed.
    public var maxConnections = 256
    /// A connection with no request in progress is closed after this long.
    public var idleTimeout: Duration = .seconds(60)
    /// From a request's first byte to its last (or to the start of its answer): a
    /// slow sender (one byte a second) is cut off here. Handling time does not count.
    public var requestTimeout: Duration = .seconds(30)

    public init(maxConnections: Int = 256, idleTimeout: Duration = .seconds(60), requestTimeout: Duration = .seconds(30)) {
        self.maxConnections = maxConnections
        self.idleTimeout = idleTimeout
        self.requestTimeout = requestTimeout
    }
}
