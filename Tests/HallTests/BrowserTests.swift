import ChildProcess
import DeviceKit
import Foundation
import HTTPTypes
import HallAPIModels
import HallClient
import HummingbirdWSClient
import Testing

extension PeerTests {
    /// The bridge's pages in a real browser: Debian's Chromium, headless, driven
    /// through the DevTools protocol.
    @Suite("pages in headless Chromium", .timeLimit(.minutes(2)))
    struct BrowserTests {
        @Test("/board in Chromium shows a call made through the API within a second, live over /v1/ws; /window/1 shows the number served")
        func boardLive() async throws {
            try await BridgeTests().withBridge { client, port, _ in
                let tv: BridgeTokenCreated = try await client.call(
                    "POST", "/v1/bridge/tokens", json: BridgeTokenRequest(name: "大厅电视", role: .display, origins: ["http://board.hall.lan"]))
                let browser = try await Chromium.start()
                do {
                    let board = try await browser.open("http://127.0.0.1:\(port)/board?token=\(tv.token)")
                    // The page is live: it says so once its WebSocket is open.
                    _ = try await poll("the board's WebSocket open", within: .seconds(20)) {
                        try await board.evaluate("document.getElementById('state').textContent")
                    } until: { $0 == "实时" }
                    let _: Ticket = try await client.call("POST", "/v1/tickets", json: IssueRequest(service: "A"))
                    let _: HallWindow = try await client.call("PUT", "/v1/windows/1/status", json: WindowStatusRequest(state: .open))
                    // The page notes the moment (its wall clock, this machine's) it shows a call,
                    // so that the time is the board's, not that of this test's DevTools polling
                    // (a connection per look, slow while every suite runs).
                    _ = try await board.evaluate(
                        "window.shownAt = ''; new MutationObserver(() => { if (!window.shownAt && document.querySelector('#calls li')) window.shownAt = String(Date.now()) })"
                            + ".observe(document.getElementById('calls'), { childList: true, subtree: true }); 'observing'")
                    let start = Date()
                    let called: Ticket = try await client.call("POST", "/v1/windows/1/call-next")
                    let shown = try await poll("\(called.number) on the board", within: .seconds(5), every: .milliseconds(20)) {
                        try await board.evaluate("document.querySelector('#calls li')?.dataset.number ?? ''")
                    } until: { $0 == called.number }
                    let shownAt = try await board.evaluate("window.shownAt")
                    let took = try #require(Double(shownAt), "the page noted no time: \(shownAt)") / 1000 - start.timeIntervalSince1970
                    #expect(shown == "A001")
                    #expect(took < 1, "the board showed the call \(took) s after call-next was sent")
                    let newest = try await board.evaluate("document.querySelector('#calls li')?.className ?? ''")
                    #expect(newest == "newest", "the newest call flashes")

                    let window = try await browser.open("http://127.0.0.1:\(port)/window/1?token=\(tv.token)")
                    _ = try await poll("window 1's screen", within: .seconds(10)) {
                        try await window.evaluate("document.getElementById('number').textContent")
                    } until: { $0 == called.number }

                    // The console, from the one-time address: the devices with their states.
                    let opened: ConsoleOpened = try await client.call("POST", "/v1/bridge/console")
                    let console = try await browser.open(opened.url)
                    let listed = try await poll("the console's devices", within: .seconds(10)) {
                        try await console.evaluate("[...document.querySelectorAll('#devices tr')].map(r => r.dataset.device).join(',')")
                    } until: { $0.contains("display-1") }
                    #expect(listed.contains("scanner-1") && listed.contains("ticket-printer"), "\(listed)")
                } catch {
                    await browser.stop()
                    throw error
                }
                await browser.stop()
            }
        }
    }
}

extension PeerTests.BrowserTests {
    @Test("a page of an allowed origin reaches the bridge (CORS preflight, Private Network Access) and shows the answer; a page of another origin is refused and shows the failure")
    func crossOrigin() async throws {
        try await BridgeTests().withBridge { client, port, state in
            // Two web servers of the test's own: two origins on loopback.
            let site = try temporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: site) }
            let page = """
                <!doctype html><meta charset="utf-8"><title>一窗受理</title><pre id="out">…</pre>
                <script type="module">
                const token = new URLSearchParams(location.search).get("token");
                try {
                  const r = await fetch("http://127.0.0.1:\(port)/v1/tickets", { method: "POST",
                    headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" }, body: JSON.stringify({ service: "A" }) });
                  document.getElementById("out").textContent = `status ${r.status} ${(await r.json()).number ?? ""}`;
                } catch (e) { document.getElementById("out").textContent = `refused: ${e.name}`; }
                </script>
                """
            try page.write(toFile: site + "/yc.html", atomically: true, encoding: .utf8)
            let (allowed, other) = (try await StaticSite.start(site), try await StaticSite.start(site))
            defer {
                Task {
                    await allowed.stop()
                    await other.stop()
                }
            }
            let token: BridgeTokenCreated = try await client.call(
                "POST", "/v1/bridge/tokens", json: BridgeTokenRequest(name: "一窗受理", role: .clerk, origins: ["http://127.0.0.1:\(allowed.port)"]))
            let browser = try await Chromium.start()
            do {
                let good = try await browser.open("http://127.0.0.1:\(allowed.port)/yc.html?token=\(token.token)")
                let shown = try await poll("the allowed page's answer", within: .seconds(15)) {
                    try await good.evaluate("document.getElementById('out').textContent")
                } until: { $0 != "…" && !$0.isEmpty }
                #expect(shown == "status 201 A001", "\(shown)")
                let bad = try await browser.open("http://127.0.0.1:\(other.port)/yc.html?token=\(token.token)")
                let refused = try await poll("the other page's failure", within: .seconds(15)) {
                    try await bad.evaluate("document.getElementById('out').textContent")
                } until: { $0 != "…" && !$0.isEmpty }
                #expect(refused.hasPrefix("refused"), "\(refused)")
            } catch {
                await browser.stop()
                throw error
            }
            await browser.stop()
            let tickets: [Ticket] = try await client.call("GET", "/v1/tickets")
            #expect(tickets.map(\.number) == ["A001"], "only the allowed page issued a ticket")
            let denials = try await BridgeTests.denials(state)
            #expect(denials.contains { $0.data["origin"]?.stringValue == "http://127.0.0.1:\(other.port)" }, "\(denials.map(\.data))")
        }
    }
}

/// A static web server of the test's own (python3 -m http.server) on a free loopback port.
struct StaticSite: Sendable {
    let child: Child
    let port: Int

    static func start(_ folder: String) async throws -> StaticSite {
        let port = try await onThread { () -> Int in
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            defer { close(fd) }
            var addr = sockaddr_in()
            addr.sin_family = sa_family_t(AF_INET)
            addr.sin_addr.s_addr = inet_addr("127.0.0.1")
            var length = socklen_t(MemoryLayout<sockaddr_in>.size)
            _ = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
            _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
            return Int(UInt16(bigEndian: addr.sin_port))
        }
        let child = try await Child.start(["/usr/bin/python3", "-m", "http.server", String(port), "--bind", "127.0.0.1", "--directory", folder])
        try await eventually("the test's web server on \(port)", within: .seconds(10)) {
            (try? await onThread { try RawConnection(tcpPort: port) }) != nil
        }
        return StaticSite(child: child, port: port)
    }

    func stop() async { await child.stop() }
}

/// Headless Chromium with its DevTools endpoint, in a profile folder of its own.
final class Chromium: Sendable {
    let child: Child
    let devtools: Int
    let profile: String

    private init(child: Child, devtools: Int, profile: String) {
        self.child = child
        self.devtools = devtools
        self.profile = profile
    }

    static func start() async throws -> Chromium {
        guard let binary = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            throw ProcessFailure("no chromium: make test installs Debian's chromium")
        }
        let profile = try temporaryDirectory()
        let child = try await Child.start([
            binary, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--remote-debugging-port=0", "--remote-allow-origins=*",
            "--user-data-dir=\(profile)",
            "--window-size=1920,1080", "about:blank",
        ], environment: ["TMPDIR": profile])  // its singleton socket's folder too, which it would leave in /tmp when stopped
        try await child.waitForOutput("DevTools listening on ws://127.0.0.1:", within: .seconds(30))
        let line = child.output.split(separator: "\n").first { $0.contains("DevTools listening on ws://127.0.0.1:") } ?? ""
        let port = line.split(separator: "127.0.0.1:").last.flatMap { Int($0.prefix { $0.isNumber }) } ?? 0
        return Chromium(child: child, devtools: port, profile: profile)
    }

    /// Opens `url` in a new tab.
    func open(_ url: String) async throws -> Tab {
        let port = devtools
        let answer = try await onThread { () -> String in
            let c = try RawConnection(tcpPort: port)
            _ = c.send("PUT /json/new?\(url) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nContent-Length: 0\r\n\r\n")
            return c.readResponse()
        }
        guard let body = answer.range(of: "\r\n\r\n").map({ String(answer[$0.upperBound...]) }),
            let target = try? JSONDecoder().decode([String: String].self, from: Data(body.utf8)), let ws = target["webSocketDebuggerUrl"]
        else { throw ProcessFailure("DevTools did not open a tab: \(answer.prefix(500))") }
        return Tab(webSocket: ws)
    }

    func stop() async {
        await child.stop()
        // Chromium's helper processes can still write into the profile for a moment
        // after the browser has ended: remove it until it stays removed (2 s at most).
        for _ in 0..<20 where FileManager.default.fileExists(atPath: profile) {
            try? FileManager.default.removeItem(atPath: profile)
            if FileManager.default.fileExists(atPath: profile) { try? await Task.sleep(for: .milliseconds(100)) }
        }
    }

    /// One tab: `evaluate` runs an expression in the page and answers its value as text.
    struct Tab: Sendable {
        let webSocket: String

        func evaluate(_ expression: String) async throws -> String {
            let request: JSONValue = [
                "id": 1, "method": "Runtime.evaluate", "params": ["expression": .string(expression), "returnByValue": true],
            ]
            let text = String(decoding: try JSONEncoder().encode(request), as: UTF8.self)
            let result = Messages()
            try await WebSocketClient.connect(url: webSocket, configuration: .init(maxFrameSize: 1 << 22), logger: testLogger) { inbound, outbound, _ in
                try await outbound.write(.text(text))
                for try await message in inbound.messages(maxSize: 1 << 22) {
                    guard case .text(let answer) = message, answer.contains("\"id\":1") else { continue }
                    result.add(answer)
                    break
                }
            }
            guard let answer = result.all.first, let value = try? JSONDecoder().decode(JSONValue.self, from: Data(answer.utf8)) else {
                throw ProcessFailure("no answer from the tab")
            }
            return value["result"]?["result"]?["value"]?.stringValue ?? ""
        }
    }
}
