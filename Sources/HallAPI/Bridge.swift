import Crypto
import DeviceKit
import Foundation
import HallAPIModels
import HTTPTypes
import Hummingbird
import Synchronization

/// The browser bridge: a loopback listener web applications (the 一窗受理 platform, a
/// kiosk's browser, a TV) use with a token of their own. Each token has a role (kiosk,
/// clerk or display: never a technician's powers) and the web origins whose pages may
/// use it. `BridgeGate` holds the rules every request on the bridge passes; the tokens
/// live in `bridge-tokens.json` in the state folder, hashed (SHA-256), mode 0600.
public final class BridgeGate: Sendable {
    struct Token: Codable, Sendable {
        var name: String
        var role: Role
        var origins: [String]
        var createdAt: String
        /// SHA-256 of the secret, hex.
        var hash: String
    }

    let file: String
    let ratePerMinute: Int
    private let tokens: Mutex<[Token]>
    /// The bridge listener's port once it listens (port 0 in a configuration picks one).
    private let listening = Atomic<Int>(-1)
    /// The technician console: one-time codes `hallctl console` prints (hash → expiry)
    /// and the sessions they opened (hash → opened, last seen).
    private let consoleCodes = Mutex<[String: Date]>([:])
    private let consoleSessions = Mutex<[String: (opened: Date, seen: Date)]>([:])
    static let consoleCookie = "halld_console"
    /// A code is good for two minutes, once; a session for 8 hours, 30 minutes idle.
    static let codeLifetime: TimeInterval = 120
    static let sessionLifetime: TimeInterval = 8 * 3600
    static let sessionIdle: TimeInterval = 30 * 60
    /// Requests per token in the current minute.
    private let counts = Mutex<(minute: Int64, perToken: [String: Int])>((0, [:]))

    public init(stateDir: String, ratePerMinute: Int) throws {
        file = (stateDir as NSString).appendingPathComponent("bridge-tokens.json")
        self.ratePerMinute = ratePerMinute
        if let data = FileManager.default.contents(atPath: file) {
            do {
                tokens = Mutex(try JSONDecoder().decode([Token].self, from: data))
            } catch {
                throw APIError(.internalServerError, .invalidData, "\(file) is not a list of bridge tokens: \(error); remove it and create the tokens again")
            }
        } else {
            tokens = Mutex([])
        }
    }

    public func listening(on port: Int) { listening.store(port, ordering: .releasing) }
    var port: Int { listening.load(ordering: .acquiring) }

    /// The roles a bridge token may have.
    static let roles: [Role] = [.kiosk, .clerk, .display]

    // MARK: tokens

    func create(_ request: BridgeTokenRequest) throws -> BridgeTokenCreated {
        let name = request.name.trimmingCharacters(in: .whitespaces)
        guard !name.isEmpty, name.count <= 64, !name.contains(where: \.isNewline) else {
            throw APIError.invalidData("name: 1 to 64 characters, the web application's name (一窗受理)", field: "name")
        }
        guard Self.roles.contains(request.role) else {
            throw APIError.invalidData(
                "role '\(request.role.rawValue)' cannot be given to a web page: one of \(Self.roles.map(\.rawValue).joined(separator: ", "))", field: "role")
        }
        guard !request.origins.isEmpty else { throw APIError.invalidData("origins: at least one web origin (https://host[:port])", field: "origins") }
        var origins: [String] = []
        for (i, raw) in request.origins.enumerated() {
            guard let origin = Self.origin(raw) else {
                throw APIError.invalidData("origins[\(i)] '\(raw)' is not a web origin: scheme://host[:port], http or https, no path", field: "origins[\(i)]")
            }
            origins.append(origin)
        }
        let secret = Self.secret(prefix: "hb_")
        let token = Token(name: name, role: request.role, origins: origins, createdAt: Timestamp.string(), hash: Self.hash(secret))
        try tokens.withLock { list in
            guard !list.contains(where: { $0.name == name }) else {
                throw APIError(.conflict, .conflict, "a bridge token named '\(name)' exists: revoke it first", field: "name")
            }
            try save(list + [token])
            list.append(token)
        }
        return BridgeTokenCreated(name: name, role: token.role, origins: origins, token: secret)
    }

    public func list() -> [BridgeTokenInfo] {
        tokens.withLock { $0.map { BridgeTokenInfo(name: $0.name, role: $0.role, origins: $0.origins, createdAt: $0.createdAt) } }
    }

    func revoke(_ name: String) throws {
        try tokens.withLock { list in
            guard list.contains(where: { $0.name == name }) else { throw APIError.notFound("no bridge token named '\(name)'") }
            let kept = list.filter { $0.name != name }
            try save(kept)
            list = kept
        }
    }

    /// Written whole to a new file, then renamed over the old one: never half a list.
    private func save(_ list: [Token]) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let temporary = file + ".new"
        guard FileManager.default.createFile(atPath: temporary, contents: try encoder.encode(list), attributes: [.posixPermissions: 0o600]) else {
            throw APIError(.internalServerError, .hardwareError, "cannot write \(temporary)")
        }
        guard rename(temporary, file) == 0 else {
            throw APIError(.internalServerError, .hardwareError, "cannot replace \(file): \(String(cString: strerror(errno)))")
        }
    }

    static func hash(_ secret: String) -> String {
        SHA256.hash(data: Data(secret.utf8)).map { String(format: "%02x", $0) }.joined()
    }

    /// `scheme://host[:port]` in lower case, or nil.
    static func origin(_ raw: String) -> String? {
        guard let url = URLComponents(string: raw), let scheme = url.scheme?.lowercased(), scheme == "https" || scheme == "http",
            let host = url.host, !host.isEmpty, url.path.isEmpty || url.path == "/", url.query == nil, url.fragment == nil, url.user == nil
        else { return nil }
        return "\(scheme)://\(host.lowercased())" + (url.port.map { ":\($0)" } ?? "")
    }

    // MARK: the technician console

    /// A one-time code for `/console?session=CODE`.
    func openConsole() -> (code: String, expires: Date) {
        let code = Self.secret(prefix: "hc_")
        let expires = Date().addingTimeInterval(Self.codeLifetime)
        consoleCodes.withLock { codes in
            codes = codes.filter { $0.value > Date() }
            codes[Self.hash(code)] = expires
        }
        return (code, expires)
    }

    /// Exchanges a one-time code for a session secret (the cookie), once.
    func redeem(_ code: String) -> String? {
        let hash = Self.hash(code)
        guard let expires = consoleCodes.withLock({ $0.removeValue(forKey: hash) }), expires > Date() else { return nil }
        let session = Self.secret(prefix: "hs_")
        consoleSessions.withLock { $0[Self.hash(session)] = (Date(), Date()) }
        return session
    }

    /// A console session from the request's cookie: admitted as a technician when its
    /// page asks (no Origin, or the bridge's own), refused when another page does; nil
    /// when the request has no console cookie.
    func consoleAdmission(_ request: Request) -> Admission? {
        guard let cookie = request.headers[.cookie], let secret = Self.cookie(Self.consoleCookie, in: cookie) else { return nil }
        let hash = Self.hash(secret)
        let now = Date()
        let valid = consoleSessions.withLock { sessions -> Bool in
            guard let s = sessions[hash] else { return false }
            guard now.timeIntervalSince(s.opened) < Self.sessionLifetime, now.timeIntervalSince(s.seen) < Self.sessionIdle else {
                sessions[hash] = nil
                return false
            }
            sessions[hash] = (s.opened, now)
            return true
        }
        guard valid else { return nil }
        let console = Token(name: "console", role: .technician, origins: [], createdAt: "", hash: hash)
        let origins = request.headers[values: .origin]
        if origins.count > 1 || origins.first.map({ !isOwnOrProgram($0) || $0.lowercased().hasPrefix("ws") }) == true {
            return .refused(APIError(.forbidden, .notAuthorized, "the console's session is for the console's own page"), token: "console")
        }
        return .admitted(console, origin: origins.first)
    }

    static func cookie(_ name: String, in header: String) -> String? {
        for part in header.split(separator: ";") {
            let pair = part.trimmingCharacters(in: .whitespaces)
            if pair.hasPrefix(name + "=") { return String(pair.dropFirst(name.count + 1)) }
        }
        return nil
    }

    static func secret(prefix: String) -> String {
        var generator = SystemRandomNumberGenerator()
        return prefix + (0..<32).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &generator)) }.joined()
    }

    // MARK: the rules

    /// Paths a TV browser may open with `?token=` (it cannot set headers): pages and
    /// the event WebSocket, and only with GET.
    static func acceptsQueryToken(_ path: String) -> Bool {
        path == "/board" || path.hasPrefix("/window/") || path.hasPrefix("/bridge/") || path.hasPrefix("/photos/") || path == "/v1/ws"
    }

    /// What a request on the bridge may do: its token, or the refusal. The order is the
    /// order of the checks: Host (421), token (401), Origin (403), rate (429).
    enum Admission {
        case admitted(Token, origin: String?)
        case refused(APIError, token: String?)
    }

    func admit(_ request: Request) -> Admission {
        if let refusal = AccessMiddleware.hostRefusal(request, port: port, listener: "bridge") { return .refused(refusal, token: nil) }
        if let console = consoleAdmission(request) { return console }
        if request.uri.path == "/console" {
            return .refused(
                APIError(.unauthorized, .notAuthorized, "the console opens with the one-time address `hallctl console` prints (a technician's session, never a token)"),
                token: nil)
        }
        var secret: String?
        if let authorization = request.headers[.authorization] {
            guard authorization.lowercased().hasPrefix("bearer ") else {
                return .refused(APIError(.unauthorized, .notAuthorized, "Authorization must be 'Bearer TOKEN' (a bridge token: hallctl bridge token create)"), token: nil)
            }
            secret = String(authorization.dropFirst("bearer ".count)).trimmingCharacters(in: .whitespaces)
        } else if let query = request.uri.queryParameters.get("token") {
            guard request.method == .get, Self.acceptsQueryToken(request.uri.path) else {
                return .refused(
                    APIError(.unauthorized, .notAuthorized, "?token= is accepted only for GET of pages and of /v1/ws: send Authorization: Bearer TOKEN"), token: nil)
            }
            secret = query
        }
        guard let secret, !secret.isEmpty else {
            return .refused(APIError(.unauthorized, .notAuthorized, "the bridge needs a token: Authorization: Bearer TOKEN (hallctl bridge token create)"), token: nil)
        }
        let hash = Self.hash(secret)
        guard let token = tokens.withLock({ $0.first { $0.hash == hash } }) else {
            return .refused(APIError(.unauthorized, .notAuthorized, "the bridge token is not valid (revoked, or never created here)"), token: nil)
        }
        let origins = request.headers[values: .origin]
        guard origins.count <= 1 else {
            return .refused(APIError(.forbidden, .notAuthorized, "a request has one Origin at most (this one has \(origins.count))"), token: token.name)
        }
        let origin = origins.first
        if let origin, !token.origins.contains(Self.origin(origin) ?? origin), !isOwnOrProgram(origin) {
            return .refused(
                APIError(.forbidden, .notAuthorized, "origin \(origin) may not use the token '\(token.name)' (its origins: \(token.origins.joined(separator: ", ")))"),
                token: token.name)
        }
        if token.role == .display && request.method != .get && request.method != .head {
            return .refused(APIError(.forbidden, .notAuthorized, "the token '\(token.name)' is for a display: it reads the hall, it changes nothing"), token: token.name)
        }
        if let wait = overRate(token.name) {
            var refusal = APIError(.tooManyRequests, .notAuthorized, "the token '\(token.name)' made \(ratePerMinute) requests this minute: try again in \(wait) s")
            refusal.retryAfter = wait
            return .refused(refusal, token: token.name)
        }
        return .admitted(token, origin: origin)
    }

    /// An Origin that is not a web page from elsewhere: the bridge's own pages
    /// (`http://127.0.0.1:PORT`, `localhost`, `[::1]`), and `ws://`/`wss://` origins,
    /// which WebSocket libraries of programs send (a browser sends its page's origin).
    func isOwnOrProgram(_ origin: String) -> Bool {
        guard let url = URLComponents(string: origin), let scheme = url.scheme?.lowercased(), let host = url.host?.lowercased() else { return false }
        if scheme == "ws" || scheme == "wss" { return true }
        return scheme == "http" && ["127.0.0.1", "localhost", "::1", "[::1]"].contains(host) && url.port == port
    }

    /// Seconds until the token may ask again, or nil when it is within its rate.
    private func overRate(_ name: String) -> Int? {
        let now = Int64(Date().timeIntervalSince1970)
        return counts.withLock { c in
            if c.minute != now / 60 { c = (now / 60, [:]) }
            c.perToken[name, default: 0] += 1
            return c.perToken[name]! > ratePerMinute ? Int(60 - now % 60) : nil
        }
    }

    /// The answer to a CORS preflight (`OPTIONS` with `Origin`): allowed for an origin
    /// some token has, with Private Network Access when asked; 403 without any CORS
    /// header for every other origin.
    func preflight(_ request: Request) -> Result<Response, APIError> {
        if let refusal = AccessMiddleware.hostRefusal(request, port: port, listener: "bridge") { return .failure(refusal) }
        guard let raw = request.headers[.origin], let origin = Self.origin(raw), tokens.withLock({ $0.contains { $0.origins.contains(origin) } }) else {
            return .failure(APIError(.forbidden, .notAuthorized, "no bridge token is for origin \(request.headers[.origin] ?? "(none)")"))
        }
        var headers = HTTPFields()
        headers[.accessControlAllowOrigin] = raw
        headers[.accessControlAllowMethods] = "GET, POST, PUT, DELETE"
        headers[.accessControlAllowHeaders] = "Authorization, Content-Type, Last-Event-ID"
        headers[.accessControlMaxAge] = "600"
        headers[.vary] = "Origin"
        if request.headers[Self.requestPrivateNetwork]?.lowercased() == "true" { headers[Self.allowPrivateNetwork] = "true" }
        return .success(Response(status: .noContent, headers: headers))
    }

    static let requestPrivateNetwork = HTTPField.Name("Access-Control-Request-Private-Network")!
    static let allowPrivateNetwork = HTTPField.Name("Access-Control-Allow-Private-Network")!
}

/// The bridge's tokens over the Unix socket: technicians only (`hallctl bridge token`).
struct BridgeController {
    let services: APIServices

    func register(_ router: Router<HallRequestContext>) {
        router.post("/v1/bridge/tokens") { request, context in
            let gate = try gate(context, "creating a bridge token")
            let body = try await request.decode(as: BridgeTokenRequest.self, context: context)
            let created = try gate.create(body)
            context.logger.notice("bridge token '\(created.name)' created: \(created.role.rawValue) for \(created.origins.joined(separator: ", "))")
            return jsonResponse(created, status: .created)
        }
        // Reached when a request to /v1/ws is not a WebSocket upgrade (or the upgrade was
        // refused for a reason the bridge's rules did not already answer).
        router.get("/v1/ws") { _, _ -> Response in
            throw APIError(
                HTTPResponse.Status(code: 426, reasonPhrase: "Upgrade Required"), .unsupportedCommand,
                "/v1/ws is a WebSocket on the bridge listener: connect with Upgrade: websocket (and ?token= or Authorization)")
        }
        router.post("/v1/bridge/console") { _, context in
            let gate = try gate(context, "opening the technician console")
            // Only on the Unix socket, where the technician is known by uid: not on TCP.
            if case .v4? = context.channel.localAddress { throw APIError.notAuthorized("the console is opened over the Unix socket (hallctl console)") }
            if case .v6? = context.channel.localAddress { throw APIError.notAuthorized("the console is opened over the Unix socket (hallctl console)") }
            guard gate.port > 0 else { throw APIError(.serviceUnavailable, .deviceNotReady, "the bridge is not listening yet") }
            let (code, expires) = gate.openConsole()
            context.logger.notice("technician console opened by uid \(context.peer.map { String($0.uid) } ?? "?")")
            return jsonResponse(ConsoleOpened(url: "http://127.0.0.1:\(gate.port)/console?session=\(code)", expiresAt: Timestamp.string(expires)), status: .created)
        }
        router.get("/v1/bridge/tokens") { _, context in
            jsonResponse(try gate(context, "listing bridge tokens").list())
        }
        router.delete("/v1/bridge/tokens/{name}") { _, context in
            let gate = try gate(context, "revoking a bridge token")
            let raw = context.parameters.get("name") ?? ""
            let name = raw.removingPercentEncoding ?? raw
            try gate.revoke(name)
            context.logger.notice("bridge token '\(name)' revoked")
            return Response(status: .noContent)
        }
    }

    private func gate(_ context: HallRequestContext, _ action: String) throws -> BridgeGate {
        try context.require(.technician, to: action)
        guard let gate = services.bridge else { throw APIError.notFound("the bridge is off: set [bridge] listen = \"127.0.0.1:8471\" in the configuration") }
        return gate
    }
}
