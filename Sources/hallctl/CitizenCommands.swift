import ArgumentParser
import Foundation
import HallAPIModels
import HallClient

struct AppointmentCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "appointments", abstract: "Appointments (预约): register, list, cancel, import from CSV (clerk and up).",
        discussion: """
            hallctl appointments add --service A --day 2026-12-03 --slot 09:30 [--code YY0001] [--name 张三丰] [--phone 13812345678]
            hallctl appointments list [--date 2026-12-03] [--state booked|checkedIn|cancelled|noShow] [--csv]
            hallctl appointments cancel YY0001
            hallctl appointments import bookings.csv
              columns (a header line names them, in any order): service, day, slot; optional code, name, phone.
              Every line is registered or refused on its own; refused lines are listed with their line number and reason,
              and the exit status is 1 when any was refused.
            Check-in: hallctl ticket issue --appointment YY0001
            """,
        subcommands: [Add.self, List.self, Cancel.self, Import.self])

    /// `2026-12-03 09:30` in this PC's time zone (the hall's).
    static func local(_ d: Date) -> String {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.dateFormat = "yyyy-MM-dd HH:mm"
        return f.string(from: d)
    }

    static func line(_ a: Appointment) -> String {
        "\(a.code)  \(a.service)  \(local(a.slot))  \(a.state.rawValue)" + (a.name.map { "  \($0)" } ?? "") + (a.phone.map { "  \($0)" } ?? "")
    }

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Register an appointment (name and phone are stored masked).")
        @OptionGroup var global: GlobalOptions
        @Option(help: "Service code.") var service: String
        @Option(help: "The day, YYYY-MM-DD.") var day: String
        @Option(help: "The slot's start, HH:MM.") var slot: String
        @Option(help: "The booking system's code (default: the hall gives one).") var code: String?
        @Option(help: "The citizen's name.") var name: String?
        @Option(help: "The citizen's phone.") var phone: String?

        func run() async throws {
            try await reportingErrors {
                let a: Appointment = try await global.client.call(
                    "POST", "/v1/appointments", json: AppointmentRequest(code: code, service: service, day: day, slot: slot, name: name, phone: phone))
                try global.show(a) { "\($0.code): \($0.service) at \(day) \(slot), booked" }
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "A day's appointments (default today).")
        @OptionGroup var global: GlobalOptions
        @Option(help: "The day, YYYY-MM-DD.") var date: String?
        @Option(help: "booked, checkedIn, cancelled or noShow.") var state: String?
        @Flag(help: "CSV.") var csv = false

        func run() async throws {
            try await reportingErrors {
                let query = [date.map { "date=\($0)" }, state.map { "state=\($0)" }].compactMap { $0 }
                guard let list = try await global.listing("/v1/appointments", query: query, csv: csv, as: [Appointment].self) else { return }
                try global.show(list) { list in
                    Output.table(
                        ["CODE", "SERVICE", "SLOT", "STATE", "TICKET", "NAME", "PHONE"],
                        list.map { a in [a.code, a.service, AppointmentCommand.local(a.slot), a.state.rawValue, a.ticket ?? "", a.name ?? "", a.phone ?? ""] })
                }
            }
        }
    }

    struct Cancel: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Cancel a booked appointment (it is kept, as cancelled).")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The appointment's code.") var code: String

        func run() async throws {
            try await reportingErrors {
                let a: Appointment = try await global.client.call("DELETE", "/v1/appointments/\(code)")
                try global.show(a) { "\($0.code): \($0.state.rawValue)" }
            }
        }
    }

    struct Import: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Register every line of a CSV file (UTF-8) of bookings.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The CSV file.") var file: String

        func run() async throws {
            try await reportingErrors {
                let text: String
                do {
                    text = try String(contentsOfFile: file, encoding: .utf8)
                } catch {
                    throw HallClientError("\(file): cannot be read as UTF-8 text: \((error as NSError).localizedDescription)")
                }
                let records: [(line: Int, fields: [String])]
                do { records = try CSVReader.records(text) } catch { throw HallClientError("\(file): \(error)") }
                guard let header = records.first else { throw HallClientError("\(file): empty; expected a header line service,day,slot[,code,name,phone]") }
                let names = header.fields.map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
                let known = ["code", "service", "day", "slot", "name", "phone"]
                if let unknown = names.first(where: { !known.contains($0) }) {
                    throw HallClientError("\(file): line \(header.line): unknown column '\(unknown)'; columns are \(known.joined(separator: ", "))")
                }
                for required in ["service", "day", "slot"] where !names.contains(required) {
                    throw HallClientError("\(file): line \(header.line): the header has no '\(required)' column (it has \(names.joined(separator: ", ")))")
                }
                var registered: [Appointment] = []
                var refused: [String] = []
                for record in records.dropFirst() {
                    guard record.fields.count == names.count else {
                        refused.append("line \(record.line): \(record.fields.count) fields, the header has \(names.count)")
                        continue
                    }
                    var v: [String: String] = [:]
                    for (name, value) in zip(names, record.fields) where !value.trimmingCharacters(in: .whitespaces).isEmpty {
                        v[name] = value.trimmingCharacters(in: .whitespaces)
                    }
                    do {
                        let a: Appointment = try await global.client.call(
                            "POST", "/v1/appointments",
                            json: AppointmentRequest(code: v["code"], service: v["service"] ?? "", day: v["day"], slot: v["slot"] ?? "", name: v["name"], phone: v["phone"]))
                        registered.append(a)
                    } catch let e as HallClientError where e.status != nil {
                        refused.append("line \(record.line): \(e.message)")
                    }
                }
                try global.show(ImportResult(registered: registered, refused: refused)) { r in
                    (r.registered.map { "registered \(AppointmentCommand.line($0))" } + r.refused.map { "refused \($0)" }).joined(separator: "\n")
                        + "\n\(r.registered.count) registered, \(r.refused.count) refused"
                }
                if !refused.isEmpty { throw ExitCode(1) }
            }
        }
    }

    struct ImportResult: Codable {
        var registered: [Appointment]
        var refused: [String]
    }
}

struct ServicesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "services", abstract: "The services now: open, on duty (延时服务) or closed, and the next opening; one with its hours and catalog.")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "A service code: its hours and catalog (服务事项公开).") var code: String?

    func run() async throws {
        try await reportingErrors {
            if let code {
                let s: ServiceState = try await global.client.call("GET", "/v1/services/\(code)")
                try global.show(s) { s in
                    var lines = ["\(s.code) \(s.name): \(s.state.rawValue)\(s.until.map { " until \(AppointmentCommand.local($0))" } ?? "")"]
                    if let next = s.nextOpening { lines.append("opens \(AppointmentCommand.local(next))\(s.nextOpeningState == .duty ? " (延时服务)" : "")") }
                    lines.append("hours: \((s.hours ?? []).joined(separator: ", ").nilIfEmpty ?? "all day, every day")")
                    if let duty = s.duty, !duty.isEmpty { lines.append("duty (延时服务): \(duty.joined(separator: ", "))") }
                    if let w = s.waitLimitMinutes { lines.append("promised wait: \(w) min") }
                    if let m = s.serviceLimitMinutes { lines.append("promised service time: \(m) min") }
                    if let c = s.catalog {
                        lines.append("申请材料:")
                        lines += c.materials.enumerated().map { "  \($0 + 1). \($1)" }
                        if let t = c.timeLimit { lines.append("办理时限: \(t)") }
                        if let f = c.fees { lines.append("收费标准: \(f)") }
                        if let l = c.location { lines.append("办理地点: \(l)") }
                    }
                    return lines.joined(separator: "\n")
                }
                return
            }
            let list: [ServiceState] = try await global.client.call("GET", "/v1/services")
            try global.show(list) { list in
                Output.table(
                    ["CODE", "NAME", "STATE", "UNTIL", "NEXT OPENING", "WAITING"],
                    list.map { s in
                        [s.code, s.name, s.state.rawValue, s.until.map(AppointmentCommand.local) ?? "", s.nextOpening.map(AppointmentCommand.local) ?? "", String(s.waiting)]
                    })
            }
        }
    }
}

struct NoticeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "notice", abstract: "Print a ticket's one-time notice (一次性告知) on its window's printer, or show the one printed.")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "Ticket number or id.") var ticket: String
    @Option(help: "The window whose printer prints it (default: the ticket's).") var window: Int?
    @Flag(help: "Show the notice printed last instead of printing one.") var show = false

    func run() async throws {
        try await reportingErrors {
            if show {
                let n: Notice = try await global.client.call("GET", "/v1/tickets/\(ticket)/notice")
                try global.show(n) { $0.text }
                return
            }
            let n: Notice = try await global.client.call("POST", "/v1/tickets/\(ticket)/notice", json: NoticeRequest(window: window))
            try global.show(n) { n in
                "\(n.number): notice printed on \(n.printer ?? "?")" + (n.printJob.map { " (job \($0))" } ?? "") + (n.printError.map { ", NOT printed: \($0)" } ?? "")
            }
        }
    }
}

extension String {
    fileprivate var nilIfEmpty: String? { isEmpty ? nil : self }
}
