/// Names of the persistent per-device counters.
public enum CounterName: String, Sendable, Codable, CaseIterable {
    case pagesPrinted, pagesScanned, printJobs, scanJobs, ratings, keyPresses
    case communicationErrors, resets, opens, secondsOnline
    /// Speakers: underruns recovered, writes that failed.
    case underruns, writeErrors
}

/// Persistent counters of one device, kept in the store and shown in the device detail.
public struct DeviceCounters: Sendable, Codable, Equatable {
    public var values: [String: Int64]

    public init(_ values: [String: Int64] = [:]) { self.values = values }

    public subscript(_ name: CounterName) -> Int64 {
        get { values[name.rawValue] ?? 0 }
        set { values[name.rawValue] = newValue }
    }

    public init(from decoder: any Decoder) throws {
        values = try decoder.singleValueContainer().decode([String: Int64].self)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(values)
    }
}
