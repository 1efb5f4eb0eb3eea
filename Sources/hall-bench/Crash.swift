import ArgumentParser
import CSQLiteBench
import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// `hall-bench crash`: SIGKILL halld at random moments under a mixed load, many times.
struct Crash: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Crash durability: SIGKILL under tickets, ratings and print jobs; nothing acknowledged is lost, no number repeats, no event gap.")

    @Option(help: "Times halld is killed.") var kills = 20
    @Option(help: "Client threads of the mixed load.") var clients = 6

    struct Acknowledged: Sendable {
        var tickets: [String: String] = [:]  // id → number
        var ratings: Set<String> = []  // ticket ids rated
        var printJobs: Set<String> = []
    }

    func run() throws {
        let halld = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent().appendingPathComponent("halld").path
        let hall = try SoakHall(halld: halld)
        defer { hall.remove() }
        let acked = Mutex(Acknowledged())
        var problems: [String] = []
        var checks = 0
        for round in 1...kills {
            let daemon = try hall.start()
            if round == 1 { hall.openWindows() }
            if round > 1 {
                problems += verify(hall, acked.withLock { $0 }, round: round)
                checks += 1
            }
            let stop = Atomic<Bool>(false)
            let socket = hall.socket
            let worker = Thread {
                onThreads(clients) { i in
                    guard let c = try? ApiBench.Conn(socket) else { return }
                    var n = 0
                    while !stop.load(ordering: .relaxed) {
                        n += 1
                        switch i % 3 {
                        case 0:
                            guard let r = c.request("POST", "/v1/tickets", json: #"{"service":"\#(n % 2 == 0 ? "A" : "B")"}"#) else { return }
                            if r.status == 201 || r.status == 200, let o = jsonObject(r.body), let id = o["id"] as? String, let number = o["number"] as? String {
                                acked.withLock { $0.tickets[id] = number }
                            }
                        case 1:
                            let window = (i / 3) % 3 + 1
                            guard let called = c.request("POST", "/v1/windows/\(window)/call-next") else { return }
                            // 409: the window still serves the ticket it had when halld was
                            // killed; the clerk completes that one first.
                            guard called.status == 200 || called.status == 409 else { continue }
                            guard let done = c.request("POST", "/v1/windows/\(window)/complete") else { return }
                            guard done.status == 200, let o = jsonObject(done.body), let id = o["id"] as? String else { continue }
                            guard let r = c.request("POST", "/v1/tickets/\(id)/rating", json: #"{"level":"\#(n % 5 + 1)","channel":"app"}"#) else { return }
                            if r.status == 201 { acked.withLock { _ = $0.ratings.insert(id) } }
                        default:
                            var text = "POST /v1/printers/ticket-printer/jobs HTTP/1.1\r\nHost: halld\r\nContent-Type: application/vnd.escpos\r\nContent-Length: 6\r\n\r\n"
                            text += "\u{1B}@A\(n % 10)\n\u{0A}"
                            c.send(Array(text.utf8))
                            guard let r = c.readResponse() else { return }
                            if r.status == 201 || r.status == 202, let o = jsonObject(r.body), let id = o["id"] as? String { acked.withLock { _ = $0.printJobs.insert(id) } }
                        }
                    }
                }
            }
            worker.start()
            // A random moment under load.
            usleep(UInt32.random(in: 150_000...900_000))
            kill(daemon.processIdentifier, SIGKILL)
            daemon.waitUntilExit()
            stop.store(true, ordering: .relaxed)
            while !worker.isFinished { usleep(10_000) }
            let check = hall.integrity()
            if check != "ok" { problems.append("round \(round): integrity_check says \(check)") }
        }
        let daemon = try hall.start()
        problems += verify(hall, acked.withLock { $0 }, round: kills + 1)
        checks += 1
        kill(daemon.processIdentifier, SIGTERM)
        daemon.waitUntilExit()
        let a = acked.withLock { $0 }
        var out = "| figure | value |\n|---|---|\n"
        out += "| SIGKILLs under load | \(kills) (\(clients) client threads: tickets, call-next + complete + rating, ESC/POS print jobs) |\n"
        out += "| acknowledged before the kills | \(a.tickets.count) tickets, \(a.ratings.count) ratings, \(a.printJobs.count) print jobs |\n"
        out += "| restarts checked | \(checks): every acknowledged ticket, rating and print job present; no ticket number twice; event sequence without a gap; PRAGMA integrity_check after every kill |\n"
        out += "| problems found | \(problems.count) |\n"
        for p in problems.prefix(20) { out += "problem: \(p)\n" }
        FileHandle.standardOutput.write(Data(out.utf8))
        if !problems.isEmpty { throw ExitCode.failure }
    }

    func verify(_ hall: SoakHall, _ a: Acknowledged, round: Int) -> [String] {
        guard let c = try? ApiBench.Conn(hall.socket) else { return ["round \(round): cannot connect after restart"] }
        var problems: [String] = []
        let tickets = jsonArray(c.request("GET", "/v1/tickets")?.body ?? [])
        let present = Dictionary(tickets.compactMap { t in (t["id"] as? String).map { ($0, t["number"] as? String ?? "") } }, uniquingKeysWith: { x, _ in x })
        for (id, number) in a.tickets where present[id] != number { problems.append("round \(round): acknowledged ticket \(number) (\(id)) is \(present[id] ?? "missing")") }
        let numbers = tickets.compactMap { $0["number"] as? String }
        if Set(numbers).count != numbers.count { problems.append("round \(round): a ticket number was issued twice") }
        let ratings = Set(jsonArray(c.request("GET", "/v1/ratings")?.body ?? []).compactMap { $0["ticket"] as? String })
        for id in a.ratings where !ratings.contains(id) && !ratings.contains(a.tickets[id] ?? "") { problems.append("round \(round): acknowledged rating of \(id) missing") }
        for id in a.printJobs {
            let r = c.request("GET", "/v1/print-jobs/\(id)")
            if r?.status != 200 { problems.append("round \(round): acknowledged print job \(id) answered \(r?.status ?? 0)") }
        }
        // The event log: 1 … last, each once.
        guard let info = jsonObject(c.request("GET", "/v1/info")?.body ?? []), let last = info["lastEventSeq"] as? Int else { return problems + ["round \(round): no /v1/info"] }
        guard let s = try? ApiBench.Conn(hall.socket) else { return problems }
        var tv = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(s.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        s.send(Array("GET /v1/events?since=0 HTTP/1.1\r\nHost: halld\r\n\r\n".utf8))
        var ids: [Int] = []
        var pending = ""
        while (ids.last ?? 0) < last {
            let b = s.readSome()
            if b.isEmpty { break }
            pending += String(decoding: b, as: UTF8.self)
            // "\r\n" (chunk framing) is one Character in Swift: split on either.
            let lines = pending.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline)
            pending = String(lines.last ?? "")
            for line in lines.dropLast() where line.hasPrefix("id: ") { if let n = Int(line.dropFirst(4)) { ids.append(n) } }
        }
        let upTo = ids.filter { $0 <= last }
        if upTo != Array(1...max(1, last)) { problems.append("round \(round): event ids are not 1…\(last) once each (\(upTo.count) ids)") }
        return problems
    }
}
