import ChildProcess
import DeviceKit
import Foundation
import HallAPIModels
import HallClient
import HallConfiguration
import HallDaemon
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
        var daemon = Daemon(config: config, logger: testLogger)
        let (ports, feed) = AsyncStream.makeStream(of: Int.self)
        daemon.onBridgeListening = { feed.yield($0) }
        let (ready, readyFeed) = AsyncStream.makeStream(of: Daemon.Handle.self)
        let run = Task { [daemon] in try await daemon.run(onReady: { readyFeed.yield($0) }) }
        var handle: Daemon.Handle?
        for await h in ready {
            handle = h
            break
        }
        var port = 0
        for await p in ports {
            port = p
            break
        }
        do {
            try await body(HallClient(socketPath: config.socket), port, config.stateDir)
        } catch {
            await handle?.shutdown()
            _ = try? await run.value
            throw error
        }
        await handle?.shutdown()
        try await run.value
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
}
