import ChildProcess
import DeviceKit
import Drivers
import Foundation
@testable import HallConfiguration
@testable import HallDaemon
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
            if line.contains("SYMLINK") {
                #expect(line.contains("TAG+=\"systemd\""))
                #expect(line.contains("MODE=\"0660\""))
                #expect(!line.contains("%k"), "a name from the kernel's numbering is not stable: \(line)")
            }
        }
        #expect(lines == USBMatchTable.entries.reduce(0) { $0 + ($1.role == .ticketPrinter ? 3 : 2) })
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

    static let namedConfig = """
        [[udev]]
        name = "bus-1"
        serial = "A10K3XYZ"
        [[udev]]
        name = "bus-2"
        path = "pci-0000:00:14.0-usb-0:2:1.0"
        [[device]]
        id = "keypad-1"
        kind = "keypad"
        driver = "hallbus"
        port = "/dev/halld/bus-1"
        address = 1
        [[device]]
        id = "display-2"
        kind = "display"
        driver = "hallbus"
        port = "/dev/halld/bus-2"
        address = 2
        [[device]]
        id = "display-3"
        kind = "display"
        driver = "hallbus"
        port = "/dev/halld/serial-path-pci-0000_00_14_0-usb-0_3_1_0"
        address = 3
        """

    @Test("[[udev]] names adapters by serial number or USB port; hallctl udev-rules --config writes their rules; udevadm reads them without an error")
    func namedAdapters() async throws {
        let config = try HallConfig.parse(Self.namedConfig, file: "named.toml")
        #expect(config.udevNames == [UdevName(name: "bus-1", match: .serial("A10K3XYZ")), UdevName(name: "bus-2", match: .path("pci-0000:00:14.0-usb-0:2:1.0"))])
        let rules = USBMatchTable.udevRules(named: config.udevNames)
        #expect(rules.contains(#"SUBSYSTEM=="tty", ENV{ID_SERIAL_SHORT}=="A10K3XYZ", MODE="0660", GROUP="dialout", TAG+="systemd", SYMLINK+="halld/bus-1""#), "\(rules.suffix(600))")
        #expect(rules.contains(#"SUBSYSTEM=="tty", ENV{ID_PATH}=="pci-0000:00:14.0-usb-0:2:1.0", MODE="0660", GROUP="dialout", TAG+="systemd", SYMLINK+="halld/bus-2""#))
        // hallctl writes the same from the file.
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try Self.namedConfig.write(toFile: dir + "/halld.toml", atomically: true, encoding: .utf8)
        let generated = try await runCommand([builtExecutable("hallctl"), "udev-rules", "--config", dir + "/halld.toml"])
        #expect(generated.status == 0 && generated.output == rules, "\(generated.output.suffix(600))")
        // udevadm (where the machine has it) reads every line: an error names the file and line.
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/udevadm"), FileManager.default.fileExists(atPath: "/sys/class/tty") else { return }
        let runDir = "/run/udev/rules.d"
        try FileManager.default.createDirectory(atPath: runDir, withIntermediateDirectories: true)
        let file = runDir + "/70-halld-test-\(UUID().uuidString.prefix(8)).rules"
        try rules.write(toFile: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: file) }
        let device = (try? FileManager.default.contentsOfDirectory(atPath: "/sys/class/tty"))?.sorted().first.map { "/sys/class/tty/" + $0 } ?? "/sys/class/tty/console"
        let checked = try await runCommand(["/usr/bin/udevadm", "test", "--action=add", device], within: .seconds(60))
        let ours = checked.output.split(separator: "\n").filter { $0.contains(file) }
        #expect(ours.contains { $0.contains("Reading rules file") }, "udevadm read the file: \(checked.output.suffix(1500))")
        #expect(ours.allSatisfy { $0.contains("Reading rules file") }, "udevadm found problems: \(ours)")
    }

    @Test("a port under /dev/halld/ that no rule names is a configuration error naming the key and the fix; [[udev]] mistakes name their key")
    func unnamedPort() throws {
        let unnamed = Self.namedConfig.replacingOccurrences(of: "/dev/halld/bus-2", with: "/dev/halld/bus-9")
        do {
            _ = try HallConfig.parse(unnamed, file: "t.toml")
            Issue.record("a port no rule names was accepted")
        } catch let e as ConfigError {
            #expect(e.key == "device[1].port" && e.message.contains("[[udev]]") && e.message.contains("bus-9"), "\(e)")
        }
        let both = "[[udev]]\nname = \"bus-1\"\nserial = \"A\"\npath = \"pci-1\"\n"
        #expect(throws: ConfigError.self) { _ = try HallConfig.parse(both, file: "t.toml") }
        let badName = "[[udev]]\nname = \"Bus 1\"\nserial = \"A\"\n"
        do {
            _ = try HallConfig.parse(badName, file: "t.toml")
            Issue.record("a bad name was accepted")
        } catch let e as ConfigError {
            #expect(e.key == "udev[0].name", "\(e)")
        }
    }
}
