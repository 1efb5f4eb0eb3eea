/// How long the registry waits before reopening a device that failed or dropped:
/// `initial`, doubling up to `maximum`. A device that opens starts again at `initial`.
public struct RetryPolicy: Sendable, Equatable {
    public var initial: Duration
    public var maximum: Duration

    public init(initial: Duration = .seconds(1), maximum: Duration = .seconds(60)) {
        self.initial = initial
        self.maximum = max(initial, maximum)
    }

    public func delay(after previous: Duration?) -> Duration {
        guard let previous else { return initial }
        return min(previous * 2, maximum)
    }
}
