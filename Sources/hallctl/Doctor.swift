import ArgumentParser
import Foundation
import HallAPIModels
import ChildProcess
import HallClient
import HallConfiguration
import Subprocess
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// One doctor finding: OK, or a problem and what fixes it.
struct Finding: Codable, Sendable {
    var ok: Bool
    var check: String
    var detail: String
    var fix: String?
}

struct Doctor: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check this machine as a technician would: socket, role, configuration, serial ports, CUPS queues, SANE devices, disk space.",
        discussion: "Each line is OK or a problem with its fix. Exit status 1 when something is wrong.")
    @OptionGroup var global: GlobalOptions
    @Option(help: "halld's configuration.") var config = "/etc/halld/halld.toml"

    func run() async throws {
        let findings = await Self.examine(config: config, socket: global.socket ?? HallClient.defaultSocket())
        try global.show(findings) { list in
            list.map { f in (f.ok ? "OK    " : "FAIL  ") + "\(f.check): \(f.detail)" + (f.fix.map { "\n      fix: \($0)" } ?? "") }.joined(separator: "\n")
        }
        if findings.contains(where: { !$0.ok }) { throw ExitCode(1) }
    }

    static func examine(config path: String, socket: String) async -> [Finding] {
        var out: [Finding] = []
        // The daemon and who we are to it.
        let client = HallClient(socketPath: socket)
        var info: InfoResponse?
        do {
            info = try await client.call("GET", "/v1/info")
            out.append(Finding(ok: true, check: "socket", detail: "halld \(info!.version) answers at \(socket)"))
            out.append(Finding(ok: true, check: "role", detail: "this user is \(info!.role.rawValue) (uid \(getuid()))",
                fix: info!.role == .none ? "add the user to a group listed under [roles] (halld-tech, halld-clerk, halld-kiosk)" : nil))
            if info!.role == .none { out[out.count - 1].ok = false }
        } catch {
            out.append(Finding(ok: false, check: "socket", detail: "halld does not answer at \(socket): \(error)",
                fix: "systemctl start halld (journalctl -u halld says why it stopped); a user outside group halld cannot connect"))
        }
        // The configuration.
        var parsed: HallConfig?
        do {
            parsed = try HallConfig.load(file: path)
            out.append(Finding(ok: true, check: "config", detail: "\(path): \(parsed!.devices.count) devices"))
        } catch {
            out.append(Finding(ok: false, check: "config", detail: "\(error)", fix: "correct the key named above; halld --check-config --config \(path)"))
        }
        guard let config = parsed else { return out }
        // Serial ports.
        var ports: Set<String> = []
        for d in config.devices {
            guard let serial = d.serial, ports.insert(serial.port).inserted else { continue }
            if !FileManager.default.fileExists(atPath: serial.port) {
                out.append(Finding(ok: false, check: "serial \(serial.port)", detail: "missing (\(d.id))",
                    fix: "plug the USB-serial adapter in; ls /dev/halld/ shows the names the udev rules give; check the port in \(path)"))
            } else if access(serial.port, R_OK | W_OK) != 0 {
                out.append(Finding(ok: false, check: "serial \(serial.port)", detail: "not readable and writable by this user",
                    fix: "halld's user needs group dialout (the udev rules set it): usermod -aG dialout halld"))
            } else {
                out.append(Finding(ok: true, check: "serial \(serial.port)", detail: "present (\(d.id), \(serial.settings))"))
            }
        }
        // CUPS queues, as CUPS's own lpstat lists them (hallctl links no printing library).
        for d in config.devices {
            guard let cups = d.cups else { continue }
            do {
                let queues = try await Self.cupsQueues(server: cups.server)
                if queues.contains(cups.queue) {
                    out.append(Finding(ok: true, check: "cups \(cups.queue)", detail: "queue present (\(d.id))"))
                } else {
                    out.append(Finding(ok: false, check: "cups \(cups.queue)", detail: "no such queue (\(d.id)); queues: \(queues.joined(separator: ", "))",
                        fix: "lpadmin -p \(cups.queue) -E -v socket://PRINTER:9100 -m raw (ticket printer) or -m everywhere (A4)"))
                }
            } catch {
                out.append(Finding(ok: false, check: "cups", detail: "CUPS not reachable (\(d.id)): \(error)", fix: "systemctl start cups; lpstat needs apt install cups-client"))
            }
        }
        // SANE devices.
        let sane = config.devices.compactMap { d in d.sane.map { (d, $0) } }
        if !sane.isEmpty {
            do {
                let names = try await Self.saneDevices()
                for (d, settings) in sane {
                    if let name = settings.device {
                        out.append(names.contains(name)
                            ? Finding(ok: true, check: "sane \(name)", detail: "present (\(d.id))")
                            : Finding(ok: false, check: "sane \(name)", detail: "SANE does not list it (\(d.id)); it lists: \(names.joined(separator: ", "))",
                                fix: "scanimage -L; the backend must be in /etc/sane.d/dll.conf and the scanner plugged in"))
                    } else if let usb = settings.usb {
                        out.append(Finding(ok: true, check: "sane usb \(usb)", detail: "found on the bus when halld opens it (\(d.id))"))
                    }
                }
            } catch {
                out.append(Finding(ok: false, check: "sane", detail: "\(error)", fix: "apt install sane-utils; scanimage -L"))
            }
        }
        // Disk space of the state folder.
        var fs = statvfs()
        let dir = FileManager.default.fileExists(atPath: config.stateDir) ? config.stateDir : (config.stateDir as NSString).deletingLastPathComponent
        if statvfs(dir, &fs) == 0 {
            let free = Double(fs.f_bavail) * Double(fs.f_frsize) / 1_048_576
            out.append(Finding(ok: free > 500, check: "disk \(config.stateDir)", detail: String(format: "%.0f MiB free", free),
                fix: free > 500 ? nil : "free space: old scans leave after storage.spool_retention_hours; journalctl --vacuum-size"))
        } else {
            out.append(Finding(ok: false, check: "disk \(config.stateDir)", detail: "cannot read the file system", fix: "create \(config.stateDir) (tmpfiles.d does it)"))
        }
        // Devices as the daemon sees them.
        if info != nil, let devices: [DeviceSummary] = try? await client.call("GET", "/v1/devices") {
            for d in devices {
                let ok = d.state.acceptsWork
                out.append(Finding(ok: ok, check: "device \(d.id)", detail: "\(d.state.rawValue)\(d.reasons.isEmpty ? "" : " (\(d.reasons.joined(separator: ", ")))")",
                    fix: ok ? nil : "hallctl device \(d.id) shows the last error; hallctl health \(d.id); hallctl reset \(d.id)"))
            }
        }
        return out
    }
}

extension Doctor {
    struct ToolFailure: Error, CustomStringConvertible {
        var description: String
    }

    /// The queues `lpstat -e` lists on `server` (a host, host:port or socket path; the
    /// default server when nil).
    static func cupsQueues(server: String?) async throws -> [String] {
        let lpstat = "/usr/bin/lpstat"
        guard FileManager.default.isExecutableFile(atPath: lpstat) else { throw ToolFailure(description: "\(lpstat) is missing") }
        let r = try await runCommandSplit([lpstat] + (server.map { ["-h", $0] } ?? []) + ["-e"], within: .seconds(30))
        guard r.status == 0 else {
            throw ToolFailure(description: "lpstat -e\(server.map { " -h \($0)" } ?? ""): \(r.err.trimmingCharacters(in: .whitespacesAndNewlines))")
        }
        return r.out.split(whereSeparator: \.isNewline).map { String($0).trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }

    /// The device names `scanimage -L` lists (device `fujitsu:fi-7160:1234' is a …).
    static func saneDevices() async throws -> [String] {
        let scanimage = "/usr/bin/scanimage"
        guard FileManager.default.isExecutableFile(atPath: scanimage) else { throw ToolFailure(description: "\(scanimage) is missing") }
        let r = try await runCommandSplit([scanimage, "-L"], within: .seconds(60))
        guard r.status == 0 else { throw ToolFailure(description: "scanimage -L: \(r.err.trimmingCharacters(in: .whitespacesAndNewlines))") }
        return r.out.split(whereSeparator: \.isNewline).compactMap { line in
            guard let open = line.firstIndex(of: "`"), let close = line[line.index(after: open)...].firstIndex(of: "'") else { return nil }
            return String(line[line.index(after: open)..<close])
        }
    }
}

struct Diag: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Pack a diagnostics archive: versions, configuration (secrets redacted), devices with identities and counters, the last events, recent logs, doctor's findings.")
    @OptionGroup var global: GlobalOptions
    @Option(help: "halld's configuration.") var config = "/etc/halld/halld.toml"
    @Option(help: "The archive to write (.tar.gz).") var out: String
    @Option(help: "How many of the last events to include.") var events = 500

    func run() async throws {
        try await reportingErrors {
            let dir = NSTemporaryDirectory() + "hallctl-diag-\(getpid())"
            let root = dir + "/halld-diag"
            try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(atPath: dir) }
            func write(_ name: String, _ text: String) throws { try text.write(toFile: root + "/" + name, atomically: true, encoding: .utf8) }
            func json(_ value: some Encodable) -> String {
                let e = JSONEncoder()
                e.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
                e.dateEncodingStrategy = .iso8601
                return (try? String(decoding: e.encode(value), as: UTF8.self)) ?? "{}"
            }
            let client = global.client
            var notes: [String] = []
            var versions = "hallctl \(HalldVersion.current)\n\(ProcessInfo.processInfo.operatingSystemVersionString)\n"
            let info: InfoResponse? = try? await client.call("GET", "/v1/info")
            if let info { versions += "halld \(info.version), up \(Int(info.uptimeSeconds)) s, socket \(info.socket), state \(info.stateDir)\n" } else { notes.append("halld did not answer") }
            try write("versions.txt", versions)
            if let text = try? String(contentsOfFile: config, encoding: .utf8) {
                try write("halld.toml", Self.redact(text))
            } else {
                notes.append("cannot read \(config)")
            }
            if let devices: [DeviceSummary] = try? await client.call("GET", "/v1/devices") {
                var details: [DeviceDetail] = []
                for d in devices { if let detail: DeviceDetail = try? await client.call("GET", "/v1/devices/\(d.id)") { details.append(detail) } }
                try write("devices.json", json(details))
            }
            if let info, info.lastEventSeq > 0 {
                var lines: [String] = []
                let since = max(0, info.lastEventSeq - Int64(events))
                for try await m in client.events("/v1/events?since=\(since)") {
                    if m.event != "heartbeat" { lines.append(m.data) }
                    if Int64(m.id ?? "") ?? 0 >= info.lastEventSeq { break }
                }
                try write("events.jsonl", lines.joined(separator: "\n") + "\n")
            }
            let findings = await Doctor.examine(config: config, socket: global.socket ?? HallClient.defaultSocket())
            try write("doctor.txt", findings.map { ($0.ok ? "OK    " : "FAIL  ") + "\($0.check): \($0.detail)" + ($0.fix.map { " -- fix: \($0)" } ?? "") }.joined(separator: "\n") + "\n")
            let journal = await Self.run(["/usr/bin/journalctl", "-u", "halld", "-n", "1000", "--no-pager", "-o", "short-iso"])
            try write("halld.log", journal ?? "journalctl not available: logs go to halld's standard error\n")
            if !notes.isEmpty { try write("notes.txt", notes.joined(separator: "\n") + "\n") }
            guard await Self.run(["/bin/tar", "-czf", out, "-C", dir, "halld-diag"]) != nil else { throw ValidationError("tar could not write \(out)") }
            try global.show(["archive": out]) { _ in "wrote \(out)" + (notes.isEmpty ? "" : " (\(notes.joined(separator: "; ")))") }
        }
    }

    /// Values of keys that look secret become `"<redacted>"`.
    static func redact(_ text: String) -> String {
        text.split(separator: "\n", omittingEmptySubsequences: false).map { line -> String in
            guard let eq = line.firstIndex(of: "=") else { return String(line) }
            let key = line[..<eq].lowercased().trimmingCharacters(in: .whitespaces)
            guard !key.hasPrefix("#"), ["password", "secret", "token", "api_key", "apikey", "phone"].contains(where: { key.contains($0) }) else {
                return String(line)
            }
            return line[..<eq] + "= \"<redacted>\""
        }.joined(separator: "\n")
    }

    /// Runs a command; its standard output, or nil when it failed. Through
    /// swift-subprocess: the wait suspends, it blocks no thread of the pool.
    static func run(_ argv: [String]) async -> String? {
        guard FileManager.default.isExecutableFile(atPath: argv[0]) else { return nil }
        guard
            let r = try? await Subprocess.run(
                .path(FilePath(argv[0])), arguments: Arguments(Array(argv.dropFirst())), output: .string(limit: 64 << 20), error: .discarded),
            r.terminationStatus.isSuccess
        else { return nil }
        return r.standardOutput
    }
}
