/// One row of `GET /v1/devices`.
public struct DeviceSummary: Codable, Sendable, Equatable {
    public var id: DeviceID
    public var kind: DeviceKind
    public var driver: String
    public var name: String
    public var state: DeviceState
    public var reasons: [String]

    public init(_ s: DeviceSnapshot) {
        id = s.id
        kind = s.kind
        driver = s.driver
        name = s.name
        state = s.status.state
        reasons = s.status.reasons
    }
}

/// `GET /v1/devices/{id}`.
public struct DeviceDetail: Codable, Sendable, Equatable {
    public var id: DeviceID
    public var kind: DeviceKind
    public var driver: String
    public var name: String
    public var state: DeviceState
    public var reasons: [String]
    public var identity: DeviceIdentity
    public var capabilities: DeviceCapabilities
    public var counters: DeviceCounters
    public var lastError: LastError?

    public init(_ s: DeviceSnapshot) {
        id = s.id
        kind = s.kind
        driver = s.driver
        name = s.name
        state = s.status.state
        reasons = s.status.reasons
        identity = s.identity
        capabilities = s.capabilities
        counters = s.counters
        lastError = s.lastError
    }
}

/// `POST /v1/devices/{id}/health`.
public struct HealthCheckRequest: Codable, Sendable, Equatable {
    public var level: HealthLevel
    public init(level: HealthLevel) { self.level = level }

    /// `{}` asks for the internal check, as no body does.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        level = try c.decodeIfPresent(HealthLevel.self, forKey: .level) ?? .internal
    }
}

/// `POST /v1/devices/{id}/faults` (simulated devices, technician).
public struct FaultRequest: Codable, Sendable, Equatable {
    public var fault: SimulatedFault
    public init(fault: SimulatedFault) { self.fault = fault }
}

/// `POST /v1/devices/{id}/health/confirm` (technician): what the technician saw on
/// a display during its interactive check.
public struct HealthConfirmation: Codable, Sendable, Equatable {
    public var passed: Bool
    public var note: String?
    public init(passed: Bool, note: String? = nil) {
        self.passed = passed
        self.note = note
    }
}

/// `POST /v1/keypads/{id}/press` (simulated keypads, technician): a citizen's key.
public struct PressRequest: Codable, Sendable, Equatable {
    /// `verySatisfied` … `veryDissatisfied`, the Chinese label, or 1…5 stars.
    public var level: String
    public init(level: String) { self.level = level }
}

/// The answer to a press: whether it rated a waiting request.
public struct PressResponse: Codable, Sendable, Equatable {
    public var level: RatingLevel
    public var rated: Bool
    public init(level: RatingLevel, rated: Bool) {
        self.level = level
        self.rated = rated
    }
}

/// `POST /v1/devices/{id}/recording` (technician): record the serial traffic of the
/// device's line for `seconds` (default 600, at most 86400).
public struct RecordingRequest: Codable, Sendable, Equatable {
    public var seconds: Int?
    public init(seconds: Int? = nil) { self.seconds = seconds }
}

/// A serial recording: where it is written, for how long, and when stopped how many chunks it holds.
public struct RecordingResponse: Codable, Sendable, Equatable {
    public var device: DeviceID
    public var file: String
    public var seconds: Int?
    public var chunks: Int?
    public init(device: DeviceID, file: String, seconds: Int? = nil, chunks: Int? = nil) {
        self.device = device
        self.file = file
        self.seconds = seconds
        self.chunks = chunks
    }
}

/// `POST /v1/speakers/{id}/announcements`: a text said on the speaker, after the chime.
public struct AnnouncementRequest: Sendable, Codable, Equatable {
    public var text: String
    /// Times it is said (1 to 5, default 1).
    public var `repeat`: Int?

    public init(text: String, repeat: Int? = nil) {
        self.text = text
        self.repeat = `repeat`
    }
}
