import ChildProcess
import DeviceKit
import Foundation
import HallAPIModels
import HallClient
import HallConfiguration
import HTTPTypes
import HallDaemon
import HummingbirdWSClient
import Synchronization
import SQLiteStore
import Testing

/// The browser bridge's rules, each through HTTP on the real listener: a token's
/// role and origins, Host, CORS preflights with Private Network Access, the rate
/// limit; every refusal audited and nothing changed in the hall.
@Suite("browser bridge", .timeLimit(.minutes(2)))
struct BridgeTests {
    /// A daemon with the bridge on a free port; `body` gets a client on the Unix socket
    /// and the bridge's port.
    func withBridge(rate: Int = 600, _ body: @Sendable (HallClient, Int, String) async throws -> Void) async throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var config = try simulatedConfig(dir: dir)
        config.bridge = .init(host: "127.0.0.1", port: 0, ratePerMinute: rate)
        let (socket, state) = (config.socket, config.stateDir)
        try await withListeningDaemon(config, listener: \.onBridgeListening) { port in
            try await body(HallClient(socketPath: socket), port, state)
        }
    }

    /// One request on the bridge: the status line, the headers (lower-cased names) and the body.
    static func request(
        _ port: Int, _ method: String, _ path: String, token: String? = nil, origin: String? = nil, host: String? = nil, headers: [String] = [], body: String? = nil
    ) async throws -> (status: Int, headers: [String: String], body: String) {
        try await onThread {
            let c = try RawConnection(tcpPort: port)
            var lines = ["\(method) \(path) HTTP/1.1", "Host: \(host ?? "127.0.0.1:\(port)")"]
            if let token { lines.append("Authorization: Bearer \(token)") }
            if let origin { lines.append("Origin: \(origin)") }
            lines += headers
            if let body { lines += ["Content-Type: application/json", "Content-Length: \(body.utf8.count)"] }
            _ = c.send(lines.joined(separator: "\r\n") + "\r\n\r\n" + (body ?? ""))
            let text = c.readResponse()
            let (head, rest) = text.range(of: "\r\n\r\n").map { (String(text[..<$0.lowerBound]), String(text[$0.upperBound...])) } ?? (text, "")
            let headLines = head.split(separator: "\r\n")
            let status = headLines.first.flatMap { Int($0.split(separator: " ").dropFirst().first ?? "") } ?? 0
            var fields: [String: String] = [:]
            for line in headLines.dropFirst() {
                guard let colon = line.firstIndex(of: ":") else { continue }
                fields[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            }
            return (status, fields, rest)
        }
    }

    /// How a client task ended, or that it runs.
    static func outcome<T: Sendable>(_ task: Task<T, any Error>) async -> String {
        let probe = Task { await task.result }
        try? await Task.sleep(for: .milliseconds(50))
        guard !probe.isCancelled else { return "?" }
        return await withTaskGroup(of: String.self) { group in
            group.addTask { "\(await probe.value)" }
            group.addTask {
                try? await Task.sleep(for: .milliseconds(100))
                return "still running"
            }
            let first = await group.next()!
            group.cancelAll()
            return first
        }
    }

    /// The `access.denied` events in the daemon's log.
    static func denials(_ state: String) async throws -> [HallEvent] {
        let database = try HallDatabase.open(directory: state)
        defer { try? database.close() }
        return try await database.events(after: 0, limit: 1000, types: [EventType.accessDenied])
    }

    @Test("tokens: created over the Unix socket, shown once, listed without the secret, stored hashed; a technician's or a district's role, a bad origin and a second name are refused by field")
    func tokens() async throws {
        try await withBridge { client, _, _ in
            let created: BridgeTokenCreated = try await client.call(
                "POST", "/v1/bridge/tokens", json: BridgeTokenRequest(name: "一窗受理", role: .clerk, origins: ["https://YC.example.gov.cn/"]))
            #expect(created.token.hasPrefix("hb_") && created.token.count == 67)
            #expect(created.origins == ["https://yc.example.gov.cn"])
            let listed: [BridgeTokenInfo] = try await client.call("GET", "/v1/bridge/tokens")
            #expect(listed.map(\.name) == ["一窗受理"] && listed.first?.role == .clerk)
            #expect(!(try await client.send("GET", "/v1/bridge/tokens")).text.contains(created.token))
            for (body, field) in [
                (#"{"name":"x","role":"technician","origins":["https://a.example"]}"#, "role"),
                (#"{"name":"x","role":"district","origins":["https://a.example"]}"#, "role"),
                (#"{"name":"x","role":"kiosk","origins":["https://a.example/page"]}"#, "origins[0]"),
                (#"{"name":"x","role":"kiosk","origins":[]}"#, "origins"),
                (#"{"name":"","role":"kiosk","origins":["https://a.example"]}"#, "name"),
            ] {
                let r = try await client.send("POST", "/v1/bridge/tokens", body: Data(body.utf8), contentType: "application/json")
                #expect(r.status == 400 && r.text.contains("\"field\":\"\(field)\""), "\(body): \(r.text)")
            }
            let again = try await client.send(
                "POST", "/v1/bridge/tokens", body: try JSONEncoder().encode(BridgeTokenRequest(name: "一窗受理", role: .kiosk, origins: ["https://a.example"])))
            #expect(again.status == 409)
            // Through hallctl: revoke by its Chinese name.
            let revoke = try await runCommandSplit([builtExecutable("hallctl"), "--socket", client.socketPath, "bridge", "token", "revoke", "一窗受理"])
            #expect(revoke.status == 0, "\(revoke.err)")
            let after: [BridgeTokenInfo] = try await client.call("GET", "/v1/bridge/tokens")
            #expect(after.isEmpty)
        }
    }

    @Test("every rule on the bridge: no token 401, a bad Host 421, another origin 403, a display token reads only, ?token= only for pages; the allowed page gets CORS; nothing changed when refused; denials are access.denied events")
    func rules() async throws {
        try await withBridge { client, port, state in
            let clerk: BridgeTokenCreated = try await client.call(
                "POST", "/v1/bridge/tokens", json: BridgeTokenRequest(name: "yc", role: .clerk, origins: ["https://yc.example.gov.cn"]))
            let screen: BridgeTokenCreated = try await client.call(
                "POST", "/v1/bridge/tokens", json: BridgeTokenRequest(name: "tv", role: .display, origins: ["http://board.hall.lan"]))
            let issue = #"{"service":"A"}"#
            let yc = "https://yc.example.gov.cn"

            #expect(try await Self.request(port, "POST", "/v1/tickets", body: issue).status == 401)
            #expect(try await Self.request(port, "POST", "/v1/tickets", token: "hb_" + String(repeating: "0", count: 64), body: issue).status == 401)
            #expect(try await Self.request(port, "POST", "/v1/tickets", token: clerk.token, origin: yc, host: "evil.example:\(port)", body: issue).status == 421)
            let foreign = try await Self.request(port, "POST", "/v1/tickets", token: clerk.token, origin: "https://evil.example", body: issue)
            #expect(foreign.status == 403 && foreign.headers["access-control-allow-origin"] == nil, "\(foreign)")
            #expect(try await Self.request(port, "POST", "/v1/tickets", token: screen.token, origin: "http://board.hall.lan", body: issue).status == 403)
            #expect(try await Self.request(port, "GET", "/v1/hall?token=\(clerk.token)").status == 401, "?token= is for pages and /v1/ws only")
            // Technician routes stay closed to every bridge token.
            #expect(try await Self.request(port, "POST", "/v1/devices/scanner-1/reset", token: clerk.token, origin: yc).status == 403)
            let tickets: [Ticket] = try await client.call("GET", "/v1/tickets")
            #expect(tickets.isEmpty, "a refused request changed the hall: \(tickets.map(\.number))")

            // Preflights: a token's origin is answered, with Private Network Access; another is not.
            let preflight = try await Self.request(
                port, "OPTIONS", "/v1/tickets", origin: yc,
                headers: ["Access-Control-Request-Method: POST", "Access-Control-Request-Headers: authorization, content-type", "Access-Control-Request-Private-Network: true"])
            #expect(preflight.status == 204, "\(preflight)")
            #expect(preflight.headers["access-control-allow-origin"] == yc)
            #expect(preflight.headers["access-control-allow-private-network"] == "true")
            #expect(preflight.headers["access-control-allow-headers"]?.lowercased().contains("authorization") == true)
            let other = try await Self.request(port, "OPTIONS", "/v1/tickets", origin: "https://evil.example", headers: ["Access-Control-Request-Method: POST"])
            #expect(other.status == 403 && other.headers["access-control-allow-origin"] == nil)

            // The allowed page: a ticket, with CORS on the answer; the display reads the hall.
            let issued = try await Self.request(port, "POST", "/v1/tickets", token: clerk.token, origin: yc, body: issue)
            #expect(issued.status == 201 && issued.body.contains("\"number\":\"A001\""), "\(issued)")
            #expect(issued.headers["access-control-allow-origin"] == yc)
            let hall = try await Self.request(port, "GET", "/v1/hall", token: screen.token, origin: "http://board.hall.lan")
            #expect(hall.status == 200 && hall.body.contains("\"waiting\""), "\(hall)")
            #expect(try await Self.request(port, "GET", "/v1/ratings", token: clerk.token).status == 200, "no Origin (not a browser): the token's role alone")

            // Revoked: refused from the next request on.
            #expect(try await client.send("DELETE", "/v1/bridge/tokens/yc").status == 204)
            #expect(try await Self.request(port, "GET", "/v1/hall", token: clerk.token, origin: yc).status == 401)

            #expect(try await client.call("GET", "/v1/tickets", as: [Ticket].self).count == 1)
            let denials = try await Self.denials(state)
            #expect(denials.contains { $0.data["status"]?.numberValue == 401 && $0.data["listener"]?.stringValue == "bridge" })
            #expect(denials.contains { $0.data["status"]?.numberValue == 421 })
            #expect(denials.contains { $0.data["status"]?.numberValue == 403 && $0.data["origin"]?.stringValue == "https://evil.example" && $0.data["token"]?.stringValue == "yc" })
        }
    }

    @Test("a token over its rate gets 429 with Retry-After, audited; another token is not held back")
    func rate() async throws {
        try await withBridge(rate: 5) { client, port, state in
            let a: BridgeTokenCreated = try await client.call("POST", "/v1/bridge/tokens", json: BridgeTokenRequest(name: "a", role: .kiosk, origins: ["https://a.example"]))
            let b: BridgeTokenCreated = try await client.call("POST", "/v1/bridge/tokens", json: BridgeTokenRequest(name: "b", role: .kiosk, origins: ["https://b.example"]))
            var statuses: [Int] = []
            for _ in 0..<7 { statuses.append(try await Self.request(port, "GET", "/v1/hall", token: a.token).status) }
            // Five in the minute, then 429 (unless the minute turned during the burst,
            // when the count starts again: then at most five more pass).
            #expect(statuses.prefix(5).allSatisfy { $0 == 200 }, "\(statuses)")
            #expect(statuses.contains(429) || statuses.filter { $0 == 200 }.count <= 10, "\(statuses)")
            let limited = try await Self.request(port, "GET", "/v1/hall", token: a.token)
            if limited.status == 429 { #expect(Int(limited.headers["retry-after"] ?? "") ?? 0 >= 1) }
            #expect(try await Self.request(port, "GET", "/v1/hall", token: b.token).status == 200)
            #expect(try await Self.denials(state).contains { $0.data["status"]?.numberValue == 429 && $0.data["token"]?.stringValue == "a" })
        }
    }

    @Test("/v1/ws: events as they happen, commands under the token's rules, and a resume after a reconnect without loss or repeat")
    func webSocket() async throws {
        try await withBridge { client, port, _ in
            let clerk: BridgeTokenCreated = try await client.call(
                "POST", "/v1/bridge/tokens", json: BridgeTokenRequest(name: "yc", role: .clerk, origins: ["https://yc.example.gov.cn"]))
            let screen: BridgeTokenCreated = try await client.call(
                "POST", "/v1/bridge/tokens", json: BridgeTokenRequest(name: "tv", role: .display, origins: ["http://board.hall.lan"]))
            // A program's WebSocket library sends Origin ws://127.0.0.1: not a web page.
            let headers = HTTPFields()
            let seen = Messages()

            // First connection: a ticket issued over the Unix socket arrives; a command issues another.
            let first = Task {
                try await WebSocketClient.connect(
                    url: "ws://127.0.0.1:\(port)/v1/ws?token=\(clerk.token)&types=ticket&since=0", configuration: .init(additionalHeaders: headers), logger: testLogger
                ) { inbound, outbound, _ in
                    try await outbound.write(.text(#"{"id": "c1", "method": "POST", "path": "/v1/tickets", "body": {"service": "A"}}"#))
                    for try await message in inbound.messages(maxSize: 1 << 20) {
                        guard case .text(let text) = message else { continue }
                        seen.add(text)
                        if seen.count(containing: "\"ticket.issued\"") == 2 && seen.count(containing: "\"reply\"") == 1 { break }
                    }
                }
            }
            defer { first.cancel() }
            let _: Ticket = try await client.call("POST", "/v1/tickets", json: IssueRequest(service: "B"))
            try await eventually(
                "two ticket.issued and the command's reply on the WebSocket", within: .seconds(10),
                seen: { "\(seen.all.joined(separator: "\n")); the client: \(await Self.outcome(first))" }
            ) {
                seen.count(containing: "\"ticket.issued\"") == 2 && seen.count(containing: "\"reply\"") == 1
            }
            _ = try await first.value
            let reply = seen.all.first { $0.contains("\"reply\"") } ?? ""
            #expect(reply.contains("\"status\":201") && reply.contains("\"reply\":\"c1\""), "\(reply)")
            let lastSeq = seen.all.compactMap { try? JSONDecoder().decode(HallEvent.self, from: Data($0.utf8)) }.map(\.seq).max() ?? 0

            // While nobody listens, two more tickets; the reconnect from the last sequence gets them, once.
            for _ in 0..<2 { let _: Ticket = try await client.call("POST", "/v1/tickets", json: IssueRequest(service: "A")) }
            let resumed = Messages()
            try await WebSocketClient.connect(
                url: "ws://127.0.0.1:\(port)/v1/ws?token=\(clerk.token)&types=ticket&since=\(lastSeq)", configuration: .init(additionalHeaders: headers), logger: testLogger
            ) { inbound, _, _ in
                for try await message in inbound.messages(maxSize: 1 << 20) {
                    guard case .text(let text) = message else { continue }
                    resumed.add(text)
                    if resumed.all.count == 2 { break }
                }
            }
            let numbers = resumed.all.compactMap { try? JSONDecoder().decode(HallEvent.self, from: Data($0.utf8)) }.map { $0.data["number"]?.stringValue ?? "" }
            #expect(numbers == ["A002", "A003"], "\(resumed.all)")

            // A display's command to change the hall is refused with the bridge's status.
            let tv = HTTPFields()
            let refused = Messages()
            try await WebSocketClient.connect(
                url: "ws://127.0.0.1:\(port)/v1/ws?token=\(screen.token)&types=ticket.none", configuration: .init(additionalHeaders: tv), logger: testLogger
            ) { inbound, outbound, _ in
                try await outbound.write(.text(#"{"id": 7, "method": "POST", "path": "/v1/tickets", "body": {"service": "A"}}"#))
                // The event stream as a command (it would never be answered) is refused by its path.
                try await outbound.write(.text(#"{"id": 8, "method": "GET", "path": "/v1/events?since=0"}"#))
                for try await message in inbound.messages(maxSize: 1 << 20) {
                    guard case .text(let text) = message else { continue }
                    refused.add(text)
                    if refused.count(containing: "\"reply\"") == 2 { break }
                }
            }
            let replies = refused.all.compactMap { try? JSONDecoder().decode(JSONValue.self, from: Data($0.utf8)) }
            let issue = replies.first { $0["reply"] == .number(7) }, events = replies.first { $0["reply"] == .number(8) }
            #expect(issue?["status"] == .number(403), "\(refused.all)")
            #expect(events?["status"] == .number(400) && events?["body"]?["error"]?["field"] == .string("path"), "\(refused.all)")
            // Upgrades the rules refuse are answered over HTTP with their status.
            #expect(try await Self.request(port, "GET", "/v1/ws?token=\(clerk.token)", origin: "https://evil.example").status == 403)
            #expect(try await Self.request(port, "GET", "/v1/ws").status == 401)
            #expect(try await Self.request(port, "GET", "/v1/hall", token: clerk.token, origin: "http://127.0.0.1:\(port)").status == 200, "the bridge's own pages")
            #expect(try await Self.request(port, "GET", "/v1/hall", token: clerk.token, origin: "http://127.0.0.1:\(port + 1)").status == 403)
            let twice = try await Self.request(port, "GET", "/v1/hall", token: clerk.token, origin: "https://yc.example.gov.cn", headers: ["Origin: https://evil.example"])
            #expect(twice.status == 403, "two Origin headers")
            #expect(try await Self.request(port, "GET", "/v1/ws?token=\(clerk.token)").status == 426)
            let all: [Ticket] = try await client.call("GET", "/v1/tickets")
            #expect(all.count == 4, "the display's command changed nothing")
            // A page still following when halld stops: the daemon stops all the same.
            let open = Task {
                try await WebSocketClient.connect(
                    url: "ws://127.0.0.1:\(port)/v1/ws?token=\(clerk.token)", configuration: .init(additionalHeaders: headers), logger: testLogger
                ) { inbound, _, _ in
                    for try await _ in inbound.messages(maxSize: 1 << 20) {}
                }
            }
            _ = open
            try await Task.sleep(for: .milliseconds(200))
        }
    }
}

extension BridgeTests {
    @Test("pages: /board, /window/{n} and /bridge/halld.js with ?token=, from the binary, loading nothing from elsewhere; without a token 401, an unknown window 404")
    func pages() async throws {
        try await withBridge { client, port, state in
            let tv: BridgeTokenCreated = try await client.call(
                "POST", "/v1/bridge/tokens", json: BridgeTokenRequest(name: "tv", role: .display, origins: ["http://board.hall.lan"]))
            let board = try await Self.request(port, "GET", "/board?token=\(tv.token)")
            #expect(board.status == 200 && board.headers["content-type"]?.hasPrefix("text/html") == true, "\(board.status) \(board.headers)")
            #expect(board.body.contains("大厅综合屏") && board.body.contains("/bridge/halld.js"))
            #expect(board.headers["content-security-policy"]?.contains("default-src 'self'") == true)
            #expect(!board.body.contains("http://") && !board.body.contains("https://"), "a page loads nothing from elsewhere")
            let window = try await Self.request(port, "GET", "/window/1?token=\(tv.token)")
            #expect(window.status == 200 && window.body.contains("窗口屏"))
            #expect(try await Self.request(port, "GET", "/window/9?token=\(tv.token)").status == 404)
            let script = try await Self.request(port, "GET", "/bridge/halld.js?token=\(tv.token)", origin: "http://127.0.0.1:\(port)")
            #expect(script.status == 200 && script.headers["content-type"]?.hasPrefix("text/javascript") == true && script.body.contains("export class Halld"))
            #expect(try await Self.request(port, "GET", "/board").status == 401)
            #expect(try await Self.request(port, "GET", "/board?token=hb_nothing").status == 401)
            // A clerk card's photo, from the state folder, for the window screen.
            let png: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 1, 2, 3]
            try FileManager.default.createDirectory(atPath: state + "/photos", withIntermediateDirectories: true)
            #expect(FileManager.default.createFile(atPath: state + "/photos/li-na.png", contents: Data(png)))
            let photo = try await Self.request(port, "GET", "/photos/li-na.png?token=\(tv.token)")
            #expect(photo.status == 200 && photo.headers["content-type"] == "image/png" && photo.headers["content-length"] == "11", "\(photo.status) \(photo.headers)")
            #expect(try await Self.request(port, "GET", "/photos/..%2Fhalld.sqlite?token=\(tv.token)").status == 400)
            #expect(try await Self.request(port, "GET", "/photos/nobody.png?token=\(tv.token)").status == 404)
        }
    }
}

extension BridgeTests {
    @Test("the technician console: a one-time address from the Unix socket gives a session cookie once; the cookie is a technician for the console's own page only; no token opens it")
    func console() async throws {
        try await withBridge { client, port, _ in
            let opened: ConsoleOpened = try await client.call("POST", "/v1/bridge/console")
            #expect(opened.url.hasPrefix("http://127.0.0.1:\(port)/console?session=hc_"))
            let path = String(opened.url.dropFirst("http://127.0.0.1:\(port)".count))
            let first = try await Self.request(port, "GET", path)
            #expect(first.status == 303 && first.headers["location"] == "/console", "\(first)")
            let cookie = first.headers["set-cookie"] ?? ""
            #expect(cookie.hasPrefix("halld_console=hs_") && cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"), "\(cookie)")
            #expect(try await Self.request(port, "GET", path).status == 401, "a console address works once")
            let session = "Cookie: " + (cookie.split(separator: ";").first.map(String.init) ?? "")
            let page = try await Self.request(port, "GET", "/console", headers: [session])
            #expect(page.status == 200 && page.body.contains("技术员控制台"))
            let own = "http://127.0.0.1:\(port)"
            let reset = try await Self.request(port, "POST", "/v1/devices/display-1/reset", origin: own, headers: [session])
            #expect(reset.status < 300, "the console resets a device: \(reset)")
            let foreign = try await Self.request(port, "POST", "/v1/devices/display-1/reset", origin: "https://evil.example", headers: [session])
            #expect(foreign.status == 403, "another page cannot use the console's session")
            #expect(try await Self.request(port, "GET", "/console").status == 401)
            let clerk: BridgeTokenCreated = try await client.call(
                "POST", "/v1/bridge/tokens", json: BridgeTokenRequest(name: "yc", role: .clerk, origins: ["https://yc.example.gov.cn"]))
            let withToken = try await Self.request(port, "GET", "/console", token: clerk.token)
            #expect(withToken.status == 401 && withToken.body.contains("hallctl console"), "a token never opens the console: \(withToken)")
            #expect(try await Self.request(port, "POST", "/v1/bridge/console", token: clerk.token).status == 403)
        }
    }
}

/// Text messages a WebSocket received.
final class Messages: Sendable {
    private let list = Mutex<[String]>([])
    func add(_ text: String) { list.withLock { $0.append(text) } }
    var all: [String] { list.withLock { $0 } }
    func count(containing text: String) -> Int { all.filter { $0.contains(text) }.count }
}
