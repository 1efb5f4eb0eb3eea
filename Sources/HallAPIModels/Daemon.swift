/// `GET /v1/info`.
public struct InfoResponse: Codable, Sendable, Equatable {
    public var name: String
    public var version: String
    public var uptimeSeconds: Double
    public var socket: String
    public var stateDir: String
    public var role: Role
    public var uid: UInt32?
    public var pid: Int32?
    public var lastEventSeq: Int64

    public init(name: String, version: String, uptimeSeconds: Double, socket: String, stateDir: String, role: Role, uid: UInt32?, pid: Int32?, lastEventSeq: Int64) {
        self.name = name
        self.version = version
        self.uptimeSeconds = uptimeSeconds
        self.socket = socket
        self.stateDir = stateDir
        self.role = role
        self.uid = uid
        self.pid = pid
        self.lastEventSeq = lastEventSeq
    }
}

/// `GET /v1/health`: `ready` with 200, `starting` with 503. Device problems are
/// listed as reasons (`scanner-1: media-jam-error`) without making the daemon unready.
public struct HealthResponse: Codable, Sendable, Equatable {
    public var status: String
    public var devices: [String: Int]
    public var reasons: [String]

    public init(status: String, devices: [String: Int], reasons: [String]) {
        self.status = status
        self.devices = devices
        self.reasons = reasons
    }
}

/// The body of every error answer: `{"error": {...}}`.
public struct ErrorResponse: Codable, Sendable, Equatable {
    public struct Body: Codable, Sendable, Equatable {
        public var code: CompletionCode
        public var message: String
        public var device: DeviceID?
        public var reasons: [String]?
        /// The request field or query parameter at fault.
        public var field: String?

        public init(code: CompletionCode, message: String, device: DeviceID? = nil, reasons: [String]? = nil, field: String? = nil) {
            self.code = code
            self.message = message
            self.device = device
            self.reasons = reasons
            self.field = field
        }
    }

    public var error: Body

    public init(_ error: Body) { self.error = error }
}

/// `POST /v1/bridge/tokens`: a token for one web application on the browser bridge.
public struct BridgeTokenRequest: Codable, Sendable, Equatable {
    /// The application's name (一窗受理): how the token is listed and revoked.
    public var name: String
    /// `kiosk`, `clerk` or `display`; never more over the bridge.
    public var role: Role
    /// The web origins whose pages may use it (`https://yc.example.gov.cn`).
    public var origins: [String]

    public init(name: String, role: Role, origins: [String]) {
        self.name = name
        self.role = role
        self.origins = origins
    }
}

/// A bridge token as listed: everything but the secret, which is kept hashed.
public struct BridgeTokenInfo: Codable, Sendable, Equatable {
    public var name: String
    public var role: Role
    public var origins: [String]
    public var createdAt: String

    public init(name: String, role: Role, origins: [String], createdAt: String) {
        self.name = name
        self.role = role
        self.origins = origins
        self.createdAt = createdAt
    }
}

/// The answer to creating a token: the secret, shown this once.
public struct BridgeTokenCreated: Codable, Sendable, Equatable {
    public var name: String
    public var role: Role
    public var origins: [String]
    public var token: String

    public init(name: String, role: Role, origins: [String], token: String) {
        self.name = name
        self.role = role
        self.origins = origins
        self.token = token
    }
}

/// `POST /v1/bridge/console`: the one-time address of the technician console.
public struct ConsoleOpened: Codable, Sendable, Equatable {
    public var url: String
    public var expiresAt: String

    public init(url: String, expiresAt: String) {
        self.url = url
        self.expiresAt = expiresAt
    }
}
