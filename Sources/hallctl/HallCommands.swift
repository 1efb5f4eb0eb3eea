import ArgumentParser
import Foundation
import HallAPIModels
import HallClient
import HallConfiguration

struct TicketCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ticket", abstract: "Issue and look up queue tickets.", subcommands: [TicketIssue.self, TicketList.self, TicketRate.self])
}

struct TicketIssue: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "issue", abstract: "Issue a ticket for a service (the kiosk's job).")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "Service code, e.g. A (may be left out with --appointment).") var service: String?
    @Flag(help: "Green channel (绿色通道).") var green = false
    @Option(help: "Appointment code to check in.") var appointment: String?
    @Flag(help: "Print it on the kiosk's ticket printer.") var print = false

    func run() async throws {
        try await reportingErrors {
            let t: Ticket = try await global.client.call(
                "POST", "/v1/tickets", json: IssueRequest(service: service, priority: green ? .green : .normal, appointment: appointment, print: print))
            try global.show(t) { t in
                "\(t.number) (\(t.service)\(t.priority == .green ? ", green" : "")): \(t.waitingAhead ?? 0) waiting ahead"
                    + (t.printJob.map { ", printing (job \($0))" } ?? "") + (t.printError.map { ", NOT printed: \($0)" } ?? "")
            }
        }
    }
}

struct TicketList: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "Today's tickets.")
    @OptionGroup var global: GlobalOptions
    @Option(help: "waiting, called, serving, done or noShow.") var state: String?

    func run() async throws {
        try await reportingErrors {
            let list: [Ticket] = try await global.client.call("GET", "/v1/tickets" + (state.map { "?state=\($0)" } ?? ""))
            try global.show(list) { list in
                list.map { t in "\(t.number)  \(t.service)  \(t.state.rawValue)" + (t.window.map { "  window \($0)" } ?? "") }.joined(separator: "\n")
            }
        }
    }
}

struct TicketRate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "rate", abstract: "Record a completed ticket's rating given outside the keypad.")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "Ticket number or id.") var ticket: String
    @Argument(help: "非常满意 … 非常不满意, verySatisfied …, or 1-5 stars.") var level: String
    @Option(help: "Where it came from (paper, app, sms).") var channel = "paper"

    func run() async throws {
        try await reportingErrors {
            let r: Rating = try await global.client.call("POST", "/v1/tickets/\(ticket)/rating", json: RatingRequest(level: level, channel: channel))
            try global.show(r) { "\($0.number): \($0.level?.label ?? "not rated") (\($0.channel))" }
        }
    }
}

struct WindowCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "window",
        abstract: "Work a window: call-next, recall, no-show, complete, transfer SERVICE, open, close, away --reason R, clerk NAME.")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "Window number.") var number: Int
    @Argument(help: "call-next, recall, no-show, complete, transfer, open, close, away, clerk, sign-in, sign-out.") var action: String
    @Argument(help: "transfer: the service; clerk: the name; sign-in: the staff id (default: the one this user is bound to).") var value: String?
    @Option(help: "away: the reason (去向留言).") var reason: String?
    @Option(help: "away: how to reach the clerk.") var contact: String?
    @Option(help: "away: when the clerk is back.") var back: String?
    @Option(help: "clerk: unit.") var unit: String?
    @Option(help: "clerk: title.") var title: String?
    @Option(help: "clerk: phone.") var phone: String?
    @Option(help: "clerk: a photo, a JPEG or PNG file name under the state folder's photos/ (shown on the window screen).") var photo: String?

    func run() async throws {
        try await reportingErrors {
            let c = global.client
            let base = "/v1/windows/\(number)"
            func ticket(_ path: String, _ body: (some Encodable)? = Optional<String>.none) async throws {
                let reply = try await c.send("POST", base + path, body: try body.map { try JSONEncoder().encode($0) }, contentType: body == nil ? nil : "application/json")
                if reply.status == 204 {
                    try global.show(["called": JSONValue.null]) { _ in "nobody waits for window \(number)" }
                    return
                }
                let t: Ticket = try HallClient.decode(reply)
                try global.show(t) { t in "\(t.number): \(t.state.rawValue)" + (t.state == .called ? " to window \(number)" : "") }
            }
            func window(_ path: String, _ body: some Encodable) async throws {
                let w: HallWindow = try await c.call("PUT", base + path, json: body)
                try global.show(w) { w in
                    "window \(w.number): \(w.state.rawValue)" + (w.away.map { " (\($0.reason))" } ?? "") + (w.clerk.map { ", clerk \($0.name)" } ?? "")
                }
            }
            switch action {
            case "call-next": try await ticket("/call-next")
            case "recall": try await ticket("/recall")
            case "no-show": try await ticket("/no-show")
            case "complete": try await ticket("/complete")
            case "transfer":
                guard let value else { throw ValidationError("transfer needs the service: hallctl window \(number) transfer B") }
                try await ticket("/transfer", TransferRequest(service: value))
            case "open": try await window("/status", WindowStatusRequest(state: .open))
            case "close": try await window("/status", WindowStatusRequest(state: .closed))
            case "away":
                guard let reason else { throw ValidationError("away needs --reason (去向留言)") }
                try await window("/status", WindowStatusRequest(state: .away, away: AwayNotice(reason: reason, contact: contact, backAt: back)))
            case "clerk":
                guard let value else { throw ValidationError("clerk needs the name: hallctl window \(number) clerk 李娜 --title 科员") }
                try await window("/clerk", ClerkCard(name: value, unit: unit, title: title, phone: phone, photo: photo))
            case "sign-in", "sign-out":
                let body = action == "sign-in" ? try JSONEncoder().encode(SignInRequest(staffId: value)) : nil
                let reply = try await c.send("POST", base + "/" + action, body: body, contentType: body == nil ? nil : "application/json")
                let w: HallWindow = try HallClient.decode(reply)
                try global.show(w) { w in "window \(w.number): " + (w.clerk.map { "\($0.name) (\($0.staffId ?? "-")) signed in" } ?? "nobody signed in") }
            default:
                throw ValidationError("unknown action \(action): call-next, recall, no-show, complete, transfer, open, close, away, clerk, sign-in, sign-out")
            }
        }
    }
}

struct Stats: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "A day's, month's or year's figures: tickets, waiting and service times, ratings, follow-ups (--csv for CSV).",
        discussion: """
            hallctl stats --month 2026-11 --by clerk [--csv]     per clerk (staff id), unit, window or service
            --hall all: every hall of the shared PostgreSQL database (a district), per hall and together; technician or district role.
            """)
    @OptionGroup var global: GlobalOptions
    @Option(help: "YYYY-MM-DD (default today).") var date: String?
    @Option(help: "YYYY-MM: a month.") var month: String?
    @Option(help: "YYYY: a year.") var year: String?
    @Option(help: "Only one grouping: clerk, unit, window or service.") var by: String?
    @Option(help: "all: every hall in the shared database (a district).") var hall: String?
    @Flag(help: "CSV, one row per hall, service, window and clerk.") var csv = false

    func validate() throws {
        if let hall, hall != "all" { throw ValidationError("--hall takes only 'all' (every hall of the database); leave it out for this hall") }
    }

    func run() async throws {
        try await reportingErrors {
            var query = [String]()
            if let date { query.append("date=\(date)") }
            if let month { query.append("month=\(month)") }
            if let year { query.append("year=\(year)") }
            if let by { query.append("by=\(by)") }
            if hall != nil { query.append("hall=all") }
            if csv {
                query.append("format=csv")
                let reply = try await global.client.send("GET", "/v1/stats?" + query.joined(separator: "&"))
                guard reply.status == 200 else { _ = try HallClient.decode(reply, as: JSONValue.self); return }
                Output.line(reply.text.trimmingCharacters(in: .newlines))
                return
            }
            let path = "/v1/stats" + (query.isEmpty ? "" : "?" + query.joined(separator: "&"))
            if hall != nil {
                let d: DistrictStats = try await global.client.call("GET", path)
                try global.show(d) { d in
                    var out = ["\(d.date)", Self.line("district (\(d.halls.count) halls)", d.district.hall)]
                    out += d.halls.sorted { $0.key < $1.key }.map { Self.line("hall \($0.key)", $0.value.hall) }
                    return out.joined(separator: "\n")
                }
                return
            }
            let s: HallStats = try await global.client.call("GET", path)
            try global.show(s) { s in
                var out = ["\(s.date)", Self.line("hall", s.hall)]
                out += s.services.sorted { $0.key < $1.key }.map { Self.line("service \($0.key)", $0.value) }
                out += s.windows.sorted { $0.key < $1.key }.map { Self.line("window \($0.key)", $0.value) }
                out += s.clerks.sorted { $0.key < $1.key }.map { Self.line("clerk \($0.key)\(s.clerkNames[$0.key].map { " \($0)" } ?? "")", $0.value) }
                out += s.units.sorted { $0.key < $1.key }.map { Self.line("unit \($0.key)", $0.value) }
                return out.joined(separator: "\n")
            }
        }
    }

    static func line(_ name: String, _ g: HallStats.Group) -> String {
        let wait = g.waitingMeanSeconds.map { String(format: "%.1f", $0 / 60) } ?? "-"
        let p90 = g.waitingP90Seconds.map { String(format: "%.1f", $0 / 60) } ?? "-"
        let serve = g.serviceMeanSeconds.map { String(format: "%.1f", $0 / 60) } ?? "-"
        let rate = g.satisfactionRate.map { String(format: "%.0f%%", $0 * 100) } ?? "-"
        return "\(name)  issued \(g.issued)  served \(g.served)  no-show \(g.noShows)  wait \(wait)/\(p90) min (mean/p90)  service \(serve) min  satisfied \(rate)"
    }
}

struct UdevRules: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "udev-rules",
        abstract: "Print the udev rules for the USB devices halld knows (udev/70-halld.rules is this output).",
        discussion: "With --config, the [[udev]] names of that configuration follow: /dev/halld/NAME for each adapter.")

    @Option(help: "halld.toml whose [[udev]] tables name adapters (/dev/halld/NAME).") var config: String?

    func run() async throws {
        var named: [UdevName] = []
        if let config {
            do {
                named = try HallConfig.load(file: config).udevNames
            } catch {
                throw ValidationError("\(error)")
            }
        }
        FileHandle.standardOutput.write(Data(USBMatchTable.udevRules(named: named).utf8))
    }
}


struct ClerkCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "clerk", abstract: "The roster of clerks, by staff id (manager, technician to change it).",
        discussion: """
            hallctl clerk add S001 --name 李娜 --unit 社保所 --title 科员 --party-member --service A
            hallctl clerk list [--removed]
            hallctl clerk remove S001        (the record stays: their calls and ratings remain theirs)
            Then at a window: hallctl window 3 sign-in S001, hallctl window 3 sign-out.
            """,
        subcommands: [Add.self, List.self, Remove.self])

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Add or change a clerk.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Staff id (letters, digits, . - _).") var staffId: String
        @Option(help: "The clerk's name.") var name: String
        @Option(help: "Unit (单位).") var unit: String?
        @Option(help: "Title (职务).") var title: String?
        @Option(help: "Phone shown on the card.") var phone: String?
        @Option(help: "A photo file under the state folder's photos/.") var photo: String?
        @Flag(help: "党员: the card says so.") var partyMember = false
        @Option(name: .customLong("service"), help: "A service the clerk may serve (repeat; none: every service).") var services: [String] = []

        func run() async throws {
            try await reportingErrors {
                let c: Clerk = try await global.client.call(
                    "PUT", "/v1/clerks/\(staffId)",
                    json: ClerkRequest(name: name, unit: unit, title: title, phone: phone, photo: photo, partyMember: partyMember, services: services))
                try global.show(c) { "\($0.staffId) \($0.name) in the roster" }
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "The roster.")
        @OptionGroup var global: GlobalOptions
        @Flag(help: "Removed clerks too.") var removed = false

        func run() async throws {
            try await reportingErrors {
                let clerks: [Clerk] = try await global.client.call("GET", "/v1/clerks" + (removed ? "?removed=true" : ""))
                try global.show(clerks) { list in
                    Output.table(
                        ["STAFF", "NAME", "UNIT", "TITLE", "SERVICES", "PARTY", "REMOVED"],
                        list.map { c in
                            [c.staffId, c.name, c.unit ?? "", c.title ?? "", c.services.isEmpty ? "all" : c.services.joined(separator: ","), c.partyMember ? "党员" : "",
                             c.removedAt.map { $0.formatted(.iso8601) } ?? ""]
                        })
                }
            }
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Take a clerk off the roster (the record stays).")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Staff id.") var staffId: String

        func run() async throws {
            try await reportingErrors {
                let reply = try await global.client.send("DELETE", "/v1/clerks/\(staffId)")
                let c: Clerk = try HallClient.decode(reply)
                try global.show(c) { "\($0.staffId) \($0.name) removed from the roster" }
            }
        }
    }
}

struct LedgerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ledger", abstract: "The 办不成事 ledger: requests the hall could not settle (clerk and up).",
        discussion: """
            hallctl ledger add --matter 异地医保备案 --reason 系统未开通跨省备案 --contact 13812345678 --window 3 --handler 医保局
            hallctl ledger list [--from 2026-11-01] [--to 2026-11-30] [--state open|resolved] [--csv]
            hallctl ledger resolve ldg-1a2b3c4d --resolution 已协调医保局线上办结 [--by 王主任]
            """,
        subcommands: [Add.self, List.self, Resolve.self])

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Write an entry (the contact is stored masked).")
        @OptionGroup var global: GlobalOptions
        @Option(help: "What the citizen came for.") var matter: String
        @Option(help: "Why it could not be settled.") var reason: String
        @Option(help: "The citizen's phone or name (stored masked).") var contact: String?
        @Option(help: "The window.") var window: Int?
        @Option(help: "The clerk's staff id (default: the one signed in at --window).") var staffId: String?
        @Option(help: "Who takes it over.") var handler: String?

        func run() async throws {
            try await reportingErrors {
                let e: LedgerEntry = try await global.client.call(
                    "POST", "/v1/ledger",
                    json: LedgerRequest(matter: matter, contact: contact, reason: reason, window: window, staffId: staffId, handler: handler))
                try global.show(e) { "\($0.id): \($0.matter) (\($0.reason))" }
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Entries of some days (default today).")
        @OptionGroup var global: GlobalOptions
        @Option(help: "First day, YYYY-MM-DD.") var from: String?
        @Option(help: "Last day, YYYY-MM-DD (default: --from).") var to: String?
        @Option(help: "open or resolved.") var state: String?
        @Flag(help: "CSV.") var csv = false

        func run() async throws {
            try await reportingErrors {
                let query = [from.map { "from=\($0)" }, to.map { "to=\($0)" }, state.map { "state=\($0)" }].compactMap { $0 }
                guard let entries = try await global.listing("/v1/ledger", query: query, csv: csv, as: [LedgerEntry].self) else { return }
                try global.show(entries) { list in
                    Output.table(
                        ["ID", "STATE", "MATTER", "REASON", "WINDOW", "CLERK", "HANDLER", "RESOLUTION"],
                        list.map { e in
                            [e.id, e.state.rawValue, e.matter, e.reason, e.window.map(String.init) ?? "", e.clerk ?? "", e.handler ?? "", e.resolution ?? ""]
                        })
                }
            }
        }
    }

    struct Resolve: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Record how an entry was resolved.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The entry's id.") var id: String
        @Option(help: "How it was settled.") var resolution: String
        @Option(help: "Who settled it.") var by: String?

        func run() async throws {
            try await reportingErrors {
                let e: LedgerEntry = try await global.client.call("PUT", "/v1/ledger/\(id)", json: LedgerResolution(resolution: resolution, resolvedBy: by))
                try global.show(e) { "\($0.id): resolved (\($0.resolution ?? ""))" }
            }
        }
    }
}

struct FollowUpCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "followup", abstract: "Bad ratings' follow-ups (差评整改).",
        discussion: """
            hallctl followup list [--state open|overdue|closed] [--csv]
            hallctl followup close fu-1a2b3c4d --result 已回访致歉并整改 [--owner 王主任] [--by 王主任]   (manager, technician)
            hallctl followup assign fu-1a2b3c4d --owner 王主任
            """,
        subcommands: [List.self, Close.self, Assign.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Follow-ups, by state.")
        @OptionGroup var global: GlobalOptions
        @Option(help: "open, overdue or closed.") var state: String?
        @Flag(help: "CSV.") var csv = false

        func run() async throws {
            try await reportingErrors {
                guard let items = try await global.listing("/v1/follow-ups", query: state.map { ["state=\($0)"] } ?? [], csv: csv, as: [FollowUp].self) else { return }
                let now = Date()
                try global.show(items) { list in
                    Output.table(
                        ["ID", "STATE", "TICKET", "WINDOW", "CLERK", "LEVEL", "DEADLINE", "OWNER", "RESULT"],
                        list.map { f in
                            [f.id, f.isOverdue(at: now) ? "overdue" : f.state.rawValue, f.number, String(f.window), [f.clerk, f.staffId].compactMap { $0 }.joined(separator: " "),
                             f.level.label, f.deadline.formatted(.iso8601), f.owner ?? "", f.result ?? ""]
                        })
                }
            }
        }
    }

    struct Close: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Close a follow-up with its result.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The follow-up's id.") var id: String
        @Option(help: "整改结果.") var result: String
        @Option(help: "Who owns it.") var owner: String?
        @Option(help: "Who closed it (default: the owner).") var by: String?

        func run() async throws {
            try await reportingErrors {
                let f: FollowUp = try await global.client.call(
                    "PUT", "/v1/follow-ups/\(id)", json: FollowUpUpdate(owner: owner, result: result, close: true, closedBy: by))
                try global.show(f) { "\($0.id): closed\($0.closedOnTime == false ? " (after its deadline)" : "")" }
            }
        }
    }

    struct Assign: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Give a follow-up an owner.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The follow-up's id.") var id: String
        @Option(help: "Who owns it.") var owner: String

        func run() async throws {
            try await reportingErrors {
                let f: FollowUp = try await global.client.call("PUT", "/v1/follow-ups/\(id)", json: FollowUpUpdate(owner: owner))
                try global.show(f) { "\($0.id): owned by \($0.owner ?? "")" }
            }
        }
    }
}
