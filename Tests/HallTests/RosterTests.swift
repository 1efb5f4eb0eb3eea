import DeviceKit
import Foundation
import HallAPIModels
import HallClient
import HallModel
import ChildProcess
import Synchronization
import Testing

/// The roster and sign-in through the real daemon: clerks by staff id, who is signed in
/// at which window, calls and ratings carrying the staff id.
@Suite("Roster and sign-in", .timeLimit(.minutes(3)))
struct RosterTests {
    struct Reply: Sendable {
        var status: Int
        var text: String
    }

    static func send(_ client: HallClient, _ method: String, _ path: String, _ body: String? = nil) async throws -> Reply {
        let r = try await client.send(method, path, body: body.map { Data($0.utf8) }, contentType: body == nil ? nil : "application/json")
        return Reply(status: r.status, text: r.text)
    }

    @Test("a working day: a hall without a roster calls as before; with one, only a signed-in clerk calls, their staff id on the ticket and rating; two clerks swap windows; refusals name the field")
    func workingDay() async throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var config = try simulatedConfig(dir: dir)
        // This test's Unix user is a workstation bound to 王强.
        let user = String(cString: getpwuid(getuid())!.pointee.pw_name)
        config.workstations = [user: "S002"]
        try await withDaemon(config) { socket in
            let c = HallClient(socketPath: socket)
            let _: HallWindow = try await c.call("PUT", "/v1/windows/1/status", json: WindowStatusRequest(state: .open))
            let _: HallWindow = try await c.call("PUT", "/v1/windows/2/status", json: WindowStatusRequest(state: .open))
            // No roster: calls as today, with a card typed by hand.
            let _: Ticket = try await c.call("POST", "/v1/tickets", json: IssueRequest(service: "A"))
            let early: Ticket = try await c.call("POST", "/v1/windows/1/call-next")
            #expect(early.staffId == nil)
            let _: Ticket = try await c.call("POST", "/v1/windows/1/complete")

            // The roster, and what it refuses.
            let li: Clerk = try await c.call("PUT", "/v1/clerks/S001", json: ClerkRequest(name: "李娜", unit: "社保所", title: "科员", partyMember: true))
            #expect(li.staffId == "S001" && li.partyMember && li.services.isEmpty)
            let _: Clerk = try await c.call("PUT", "/v1/clerks/S002", json: ClerkRequest(name: "王强", unit: "医保所", services: ["B"]))
            for (path, body, field) in [
                ("/v1/clerks/S%20003", #"{"name":"张三"}"#, "staffId"), ("/v1/clerks/S003", #"{"name":" "}"#, "name"),
                ("/v1/clerks/S003", #"{"name":"张三","services":["A","Z"]}"#, "services[1]"), ("/v1/clerks/S003", #"{"name":"张三","age":30}"#, "age"),
            ] {
                let r = try await Self.send(c, "PUT", path, body)
                #expect(r.status == 400 && r.text.contains(#""field":"\#(field)""#), "PUT \(path) \(body): \(r.status) \(r.text)")
            }
            let roster: [Clerk] = try await c.call("GET", "/v1/clerks")
            #expect(roster.map(\.staffId) == ["S001", "S002"])

            // With a roster a window needs a clerk signed in; the card comes from the roster.
            let _: Ticket = try await c.call("POST", "/v1/tickets", json: IssueRequest(service: "A"))
            let nobody = try await Self.send(c, "POST", "/v1/windows/1/call-next")
            #expect(nobody.status == 409 && nobody.text.contains("sign"), "\(nobody.text)")
            let typed = try await Self.send(c, "PUT", "/v1/windows/1/clerk", #"{"name":"冒名"}"#)
            #expect(typed.status == 409 && typed.text.contains("roster"), "\(typed.text)")
            let unknown = try await Self.send(c, "POST", "/v1/windows/1/sign-in", #"{"staffId":"S009"}"#)
            #expect(unknown.status == 404 && unknown.text.contains(#""field":"staffId""#), "\(unknown.text)")
            // No staff id: the one this workstation's user is bound to.
            let bound: HallWindow = try await c.call("POST", "/v1/windows/1/sign-in")
            #expect(bound.clerk?.staffId == "S002" && bound.clerk?.name == "王强", "\(String(describing: bound.clerk))")
            let _: HallWindow = try await c.call("POST", "/v1/windows/1/sign-out")
            let w1: HallWindow = try await c.call("POST", "/v1/windows/1/sign-in", json: SignInRequest(staffId: "S001"))
            #expect(w1.clerk?.name == "李娜" && w1.clerk?.staffId == "S001" && w1.clerk?.partyMember == true && w1.clerk?.unit == "社保所")
            let shown: DisplayContent = try await c.call("GET", "/v1/displays/display-1/content")
            #expect(shown.lines.first == "1号窗口 李娜", "\(shown)")
            let twice = try await Self.send(c, "POST", "/v1/windows/2/sign-in", #"{"staffId":"S001"}"#)
            #expect(twice.status == 409 && twice.text.contains("window 1"), "\(twice.text)")
            let held = try await Self.send(c, "POST", "/v1/windows/1/sign-in", #"{"staffId":"S002"}"#)
            #expect(held.status == 409 && held.text.contains("李娜"), "\(held.text)")
            let _: HallWindow = try await c.call("POST", "/v1/windows/2/sign-in", json: SignInRequest(staffId: "S002"))

            // Calls and ratings carry the staff id.
            let called: Ticket = try await c.call("POST", "/v1/windows/1/call-next")
            #expect(called.staffId == "S001" && called.clerk == "李娜")
            let busy = try await Self.send(c, "POST", "/v1/windows/1/sign-out")
            #expect(busy.status == 409 && busy.text.contains(called.number), "\(busy.text)")
            let _: Ticket = try await c.call("POST", "/v1/windows/1/complete")
            _ = try await poll("the rating pressed on keypad-1", within: .seconds(5)) {
                try await c.call("POST", "/v1/keypads/keypad-1/press", json: PressRequest(level: "不满意"), as: PressResponse.self)
            } until: { $0.rated }
            let ratings: [Rating] = try await c.call("GET", "/v1/ratings")
            #expect(ratings.first { $0.ticket == called.id }?.staffId == "S001", "\(ratings)")
            // The 不满意 opened a follow-up (差评整改) with the clerk's staff id.
            let open: [FollowUp] = try await c.call("GET", "/v1/follow-ups?state=open")
            #expect(open.count == 1 && open.first?.ticket == called.id && open.first?.staffId == "S001" && open.first?.level == .dissatisfied, "\(open)")
            let fid = try #require(open.first?.id)
            let noResult = try await Self.send(c, "PUT", "/v1/follow-ups/\(fid)", #"{"close":true}"#)
            #expect(noResult.status == 400 && noResult.text.contains(#""field":"result""#), "\(noResult.text)")
            let badState = try await Self.send(c, "GET", "/v1/follow-ups?state=late")
            #expect(badState.status == 400 && badState.text.contains(#""field":"state""#), "\(badState.text)")
            let closed: FollowUp = try await c.call("PUT", "/v1/follow-ups/\(fid)", json: FollowUpUpdate(owner: "王主任", result: "已回访致歉", close: true))
            #expect(closed.state == .closed && closed.closedBy == "王主任" && closed.closedOnTime == true)
            let csv = try await c.send("GET", "/v1/follow-ups?format=csv")
            let rows = Self.parseCSV(csv.text)
            #expect(rows.count == 2 && rows[1][0] == fid && rows[1][5] == "S001" && rows[1][11] == "closed" && rows[1][16] == "yes", "\(rows)")
            let listed = try await runCommand([builtExecutable("hallctl"), "followup", "list", "--state", "closed", "--socket", socket])
            #expect(listed.status == 0 && listed.output.contains(fid) && listed.output.contains("已回访致歉") && listed.output.contains("不满意"), "\(listed.output)")

            // They swap windows: out, then in at the other. 王强 serves B only, at any window.
            let _: HallWindow = try await c.call("POST", "/v1/windows/1/sign-out")
            let _: HallWindow = try await c.call("POST", "/v1/windows/2/sign-out")
            let _: HallWindow = try await c.call("POST", "/v1/windows/1/sign-in", json: SignInRequest(staffId: "S002"))
            let _: HallWindow = try await c.call("POST", "/v1/windows/2/sign-in", json: SignInRequest(staffId: "S001"))
            let a: Ticket = try await c.call("POST", "/v1/tickets", json: IssueRequest(service: "A"))
            let b: Ticket = try await c.call("POST", "/v1/tickets", json: IssueRequest(service: "B"))
            let byWang: Ticket = try await c.call("POST", "/v1/windows/1/call-next")
            #expect(byWang.id == b.id && byWang.staffId == "S002", "window 1 (all services) with 王强 (B only) calls \(byWang.number), not \(a.number)")

            // This month's figures per clerk: by staff id, with names; one grouping asked, one given.
            let month = String(early.day.prefix(7))
            let stats: HallStats = try await c.call("GET", "/v1/stats?month=\(month)&by=clerk")
            #expect(stats.clerks["S001"]?.served == 1 && stats.clerks["S001"]?.followUps == 1 && stats.clerkNames["S001"] == "李娜", "\(stats)")
            #expect(stats.clerks["S002"]?.issued == 1 && stats.services.isEmpty && stats.windows.isEmpty)
            let monthCSV = try await c.send("GET", "/v1/stats?month=\(month)&by=clerk&format=csv")
            #expect(monthCSV.text.contains(",clerk,S001,") && monthCSV.text.contains(",李娜\n"), "\(monthCSV.text)")
            for (query, field) in [("month=2026-13", "month"), ("month=2026-1", "month"), ("year=20x6", "year"), ("by=desk", "by"), ("date=2026-11-01&month=2026-11", "month")] {
                let r = try await Self.send(c, "GET", "/v1/stats?\(query)")
                #expect(r.status == 400 && r.text.contains(#""field":"\#(field)""#), "\(query): \(r.status) \(r.text)")
            }

            // Removing: not while signed in; then the record stays, out of the list.
            let signedIn = try await Self.send(c, "DELETE", "/v1/clerks/S001")
            #expect(signedIn.status == 409 && signedIn.text.contains("window 2"), "\(signedIn.text)")
            let _: HallWindow = try await c.call("POST", "/v1/windows/2/sign-out")
            let removed: Clerk = try await c.call("DELETE", "/v1/clerks/S001")
            #expect(removed.removedAt != nil)
            #expect((try await c.call("GET", "/v1/clerks", as: [Clerk].self)).map(\.staffId) == ["S002"])
            #expect((try await c.call("GET", "/v1/clerks?removed=true", as: [Clerk].self)).map(\.staffId) == ["S001", "S002"])
            let gone = try await Self.send(c, "POST", "/v1/windows/2/sign-in", #"{"staffId":"S001"}"#)
            #expect(gone.status == 404, "\(gone.text)")
            let again = try await Self.send(c, "DELETE", "/v1/clerks/S001")
            #expect(again.status == 404 && again.text.contains(#""field":"staffId""#), "\(again.text)")
        }
        // After a restart: the roster and who is signed in where.
        try await withDaemon(config) { socket in
            let c = HallClient(socketPath: socket)
            let hall: HallSummary = try await c.call("GET", "/v1/hall")
            #expect(hall.windows.first { $0.number == 1 }?.clerk?.staffId == "S002", "\(hall.windows)")
            #expect((try await c.call("GET", "/v1/clerks?removed=true", as: [Clerk].self)).map(\.staffId) == ["S001", "S002"])
        }
    }

    /// Fields of CSV text (RFC 4180: quoted fields, doubled quotes, line breaks inside quotes).
    static func parseCSV(_ text: String) -> [[String]] {
        var rows: [[String]] = [], row: [String] = [], field = "", quoted = false
        var chars = Array(text)[...]
        while let c = chars.popFirst() {
            if quoted {
                if c == "\"" {
                    if chars.first == "\"" { field.append("\""); chars.removeFirst() } else { quoted = false }
                } else { field.append(c) }
            } else if c == "\"" { quoted = true
            } else if c == "," { row.append(field); field = ""
            } else if c == "\n" { row.append(field); rows.append(row); row = []; field = ""
            } else { field.append(c) }
        }
        if !field.isEmpty || !row.isEmpty { row.append(field); rows.append(row) }
        return rows
    }

    @Test("the 办不成事 ledger: entries with the reason, the window's clerk and a masked contact; resolved once; read back from its CSV; refusals name the field")
    func ledger() async throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try await withDaemon(try simulatedConfig(dir: dir)) { socket in
            let c = HallClient(socketPath: socket)
            let _: Clerk = try await c.call("PUT", "/v1/clerks/S001", json: ClerkRequest(name: "李娜"))
            let _: HallWindow = try await c.call("POST", "/v1/windows/1/sign-in", json: SignInRequest(staffId: "S001"))
            for (body, status, field) in [
                (#"{"matter":"异地医保备案","reason":" "}"#, 400, "reason"), (#"{"matter":"","reason":"系统未开通"}"#, 400, "matter"),
                (#"{"matter":"异地医保备案"}"#, 400, "reason"), (#"{"matter":"备案","reason":"未开通","window":99}"#, 404, "window"),
                (#"{"matter":"备案","reason":"未开通","staffId":"S404"}"#, 404, "staffId"),
            ] {
                let r = try await Self.send(c, "POST", "/v1/ledger", body)
                #expect(r.status == status && r.text.contains(#""field":"\#(field)""#), "\(body): \(r.status) \(r.text)")
            }
            #expect((try await c.call("GET", "/v1/ledger", as: [LedgerEntry].self)).isEmpty, "refused entries are not written")
            let first: LedgerEntry = try await c.call(
                "POST", "/v1/ledger", json: LedgerRequest(matter: "异地医保备案", contact: "13812345678", reason: "系统未开通跨省备案", window: 1, handler: "医保局"))
            #expect(first.contact == "138****5678" && first.staffId == "S001" && first.clerk == "李娜" && first.state == .open, "\(first)")
            let second: LedgerEntry = try await c.call(
                "POST", "/v1/ledger", json: LedgerRequest(matter: "证明\"无犯罪记录\", 加急", contact: "张三丰", reason: "需本人到户籍地\n派出所"))
            #expect(second.contact == "张*丰" && second.staffId == nil)

            let noResolution = try await Self.send(c, "PUT", "/v1/ledger/\(first.id)", #"{"resolution":""}"#)
            #expect(noResolution.status == 400 && noResolution.text.contains(#""field":"resolution""#), "\(noResolution.text)")
            #expect(try await Self.send(c, "PUT", "/v1/ledger/ldg-nope", #"{"resolution":"已办"}"#).status == 404)
            let resolved: LedgerEntry = try await c.call("PUT", "/v1/ledger/\(first.id)", json: LedgerResolution(resolution: "已协调医保局线上办结", resolvedBy: "王主任"))
            #expect(resolved.state == .resolved && resolved.resolvedAt != nil)
            let twice = try await Self.send(c, "PUT", "/v1/ledger/\(first.id)", #"{"resolution":"再办"}"#)
            #expect(twice.status == 409 && twice.text.contains("王主任"), "\(twice.text)")

            #expect((try await c.call("GET", "/v1/ledger?state=open", as: [LedgerEntry].self)).map(\.id) == [second.id])
            let bad = try await Self.send(c, "GET", "/v1/ledger?from=2026-13-01")
            #expect(bad.status == 400 && bad.text.contains(#""field":"from""#), "\(bad.text)")
            let csv = try await c.send("GET", "/v1/ledger?format=csv")
            #expect(csv.status == 200)
            let rows = Self.parseCSV(csv.text)
            #expect(rows.first == ["id", "time", "matter", "contact", "reason", "window", "staff_id", "clerk", "handler", "state", "resolution", "resolved_at", "resolved_by"])
            #expect(rows.count == 3, "\(rows)")
            if rows.count == 3 {
                #expect(rows[1][0] == first.id && rows[1][3] == "138****5678" && rows[1][6] == "S001" && rows[1][9] == "resolved" && rows[1][12] == "王主任", "\(rows[1])")
                #expect(rows[2][2] == "证明\"无犯罪记录\", 加急" && rows[2][4] == "需本人到户籍地\n派出所" && rows[2][9] == "open", "\(rows[2])")
            }
            let listed = try await runCommand([builtExecutable("hallctl"), "ledger", "list", "--csv", "--socket", socket])
            #expect(listed.status == 0 && listed.output == csv.text, "\(listed.output)")
        }
    }

    @Test("服务双岗: a service with citizens waiting and no open window with a clerk is announced unstaffed with its A and B posts and shown on the main display, until a window opens for it")
    func unstaffedService() async throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var config = try simulatedConfig(dir: dir)
        config.hall!.services[0].postA = "S001"
        config.hall!.services[0].postB = "S002"
        try await withDaemon(config) { socket in
            let c = HallClient(socketPath: socket)
            let seen = Mutex<[(String, String)]>([])
            let reader = Task {
                for try await m in c.events("/v1/events?since=0&types=service") {
                    seen.withLock { $0.append((m.event, m.data)) }
                }
            }
            defer { reader.cancel() }
            let _: Clerk = try await c.call("PUT", "/v1/clerks/S001", json: ClerkRequest(name: "李娜"))
            let _: Clerk = try await c.call("PUT", "/v1/clerks/S002", json: ClerkRequest(name: "王强"))
            let _: Ticket = try await c.call("POST", "/v1/tickets", json: IssueRequest(service: "A"))
            try await eventually("service A announced unstaffed", seen: { "\(seen.withLock { $0 })" }) {
                seen.withLock { $0.contains { $0.0 == "service.unstaffed" && $0.1.contains(#""service":"A""#) && $0.1.contains("李娜") && $0.1.contains("王强") } }
            }
            let main: DisplayContent = try await c.call("GET", "/v1/displays/display-main/content")
            #expect(main.lines.first == "社会保障 暂无窗口 A岗李娜", "\(main)")
            // Window 2 serves B only; window 1 open but nobody signed in (the hall has a roster): still unstaffed.
            for n in [1, 2] { let _: HallWindow = try await c.call("PUT", "/v1/windows/\(n)/status", json: WindowStatusRequest(state: .open)) }
            #expect(!seen.withLock { $0.contains { $0.0 == "service.staffed" } })
            // This user is bound to no staff id here: the staff id is required.
            let noId = try await Self.send(c, "POST", "/v1/windows/1/sign-in")
            #expect(noId.status == 400 && noId.text.contains(#""field":"staffId""#), "\(noId.text)")
            let _: HallWindow = try await c.call("POST", "/v1/windows/1/sign-in", json: SignInRequest(staffId: "S002"))
            try await eventually("service A staffed again", seen: { "\(seen.withLock { $0 })" }) {
                seen.withLock { $0.contains { $0.0 == "service.staffed" && $0.1.contains(#""service":"A""#) } }
            }
            let after: DisplayContent = try await c.call("GET", "/v1/displays/display-main/content")
            #expect(!after.lines.contains { $0.contains("暂无窗口") }, "\(after)")
            #expect(seen.withLock { $0.filter { $0.0 == "service.unstaffed" }.count } == 1, "announced once")
        }
    }
}
