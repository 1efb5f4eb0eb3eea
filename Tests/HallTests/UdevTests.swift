import Drivers
import Foundation
import Testing

@Suite("udev rules and units", .timeLimit(.minutes(3)))
struct UdevTests {
    @Test("udev/70-halld.rules is what `hallctl udev-rules` generates from the match table")
    func committed() throws {
        let committed = try String(contentsOfFile: repositoryRoot + "/udev/70-halld.rules", encoding: .utf8)
        #expect(committed == USBMatchTable.udevRules(), "regenerate: hallctl udev-rules > udev/70-halld.rules")
    }

    @Test("every rule line parses: KEY op \"value\" pairs, a match before each assignment, known operators")
    func parses() throws {
        let rules = USBMatchTable.udevRules()
        var lines = 0
        for line in rules.split(separator: "\n") where !line.hasPrefix("#") && !line.isEmpty {
            lines += 1
            let pairs = line.components(separatedBy: ", ")
            var seenAssignment = false
            for pair in pairs {
                guard let range = pair.range(of: #"^[A-Z_]+(\{[A-Za-z_]+\})?(==|!=|\+=|=)"[^"]*"$"#, options: .regularExpression) else {
                    Issue.record("not KEY op \"value\": \(pair) in \(line)")
                    continue
                }
                #expect(range.lowerBound == pair.startIndex)
                let isMatch = pair.contains("==") || pair.contains("!=")
                if isMatch { #expect(!seenAssignment, "a match after an assignment in \(line)") } else { seenAssignment = true }
            }
            #expect(line.contains("TAG+=\"systemd\""))
            #expect(line.contains("MODE=\"0660\""))
        }
        #expect(lines == USBMatchTable.entries.reduce(0) { $0 + ($1.role == .ticketPrinter ? 1 : 2) })
    }

    @Test("the service and socket units pass systemd-analyze verify where the machine has it")
    func unit() async throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/systemd-analyze") else { return }
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let unit = try String(contentsOfFile: repositoryRoot + "/systemd/halld.service", encoding: .utf8)
            .replacingOccurrences(of: "/usr/local/bin/halld", with: builtExecutable("halld"))
        try unit.write(toFile: dir + "/halld.service", atomically: true, encoding: .utf8)
        let socketUnit = try String(contentsOfFile: repositoryRoot + "/systemd/halld.socket", encoding: .utf8)
        #expect(socketUnit.contains("ListenStream=/run/halld/halld.sock") && socketUnit.contains("SocketMode=0660") && socketUnit.contains("SocketGroup=halld"))
        try socketUnit.write(toFile: dir + "/halld.socket", atomically: true, encoding: .utf8)
        let (status, output) = try await runCommand(["/usr/bin/systemd-analyze", "verify", "--man=no", dir + "/halld.socket", dir + "/halld.service"])
        #expect(status == 0, "\(output)")
        #expect(!output.contains("Unknown key") && !output.contains("Failed to parse"), "\(output)")
    }
}
