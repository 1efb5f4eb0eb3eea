import ChildProcess
import DeviceKit
import Foundation
@testable import HallConfiguration
import HallAPIModels
import HallClient
@testable import HallDaemon
import Testing

#if canImport(Glibc)
import Glibc
#endif

extension PeerTests {
    /// Roles from real identities: users and groups made for the test, clients run
    /// as them (runuser), the daemon deciding from SO_PEERCRED alone.
    @Suite("roles with real users", .timeLimit(.minutes(3)))
    struct RoleIdentityTests {
        static let kiosk = "halldtkiosk", outsider = "halldtout", socketGroup = "halldtsock", supplementary = "halldtsupp"

        /// Creates the groups and users (idempotent). Needs root, as `make test` runs here.
        static func setUpIdentities() async throws {
            for group in ["halld-kiosk", socketGroup] { _ = try await runCommand(["/usr/sbin/groupadd", "-f", group]) }
            if getpwnam(kiosk) == nil {
                _ = try await runCommand(["/usr/sbin/useradd", "-M", "-N", "-g", "halld-kiosk", "-G", socketGroup, "-s", "/usr/sbin/nologin", kiosk])
            }
            if getpwnam(outsider) == nil {
                _ = try await runCommand(["/usr/sbin/useradd", "-M", "-U", "-s", "/usr/sbin/nologin", outsider])
            }
            if getpwnam(supplementary) == nil {
                // Kiosk only through a supplementary group: its primary group is its own.
                _ = try await runCommand(["/usr/sbin/useradd", "-M", "-U", "-G", "halld-kiosk,\(socketGroup)", "-s", "/usr/sbin/nologin", supplementary])
            }
            guard getpwnam(kiosk) != nil, getpwnam(outsider) != nil, getpwnam(supplementary) != nil else { throw CupsPeer.Failure("useradd failed") }
        }

        /// The users and groups, a folder others may read, and a daemon configuration
        /// whose kiosks are halld-kiosk and whose socket belongs to the test's group;
        /// nil (with an issue recorded) when the test does not run as root.
        static func prepare() async throws -> (dir: String, config: HallConfig)? {
            guard getuid() == 0 else {
                Issue.record("this test creates users: run it as root (make test does, here)")
                return nil
            }
            try await setUpIdentities()
            let dir = try temporaryDirectory()
            chmod(dir, 0o755)
            var config = try simulatedConfig(dir: dir)
            config.roles.kiosk = ["halld-kiosk"]
            config.socketGroup = socketGroup
            return (dir, config)
        }

        static func asUser(_ user: String, _ arguments: [String]) async throws -> (Int32, String) {
            let r = try await runCommand(["/usr/sbin/runuser", "-u", user, "--"] + arguments)
            return (r.status, r.output)
        }

        @Test("a kiosk cannot reset devices, inject faults, read ratings or metrics; a process outside the socket's group cannot connect; denials are audited")
        func kioskAndOutsider() async throws {
            guard let (dir, config) = try await Self.prepare() else { return }
            defer { try? FileManager.default.removeItem(atPath: dir) }
            // A copy other users can run: the build folder may sit in a private (0700) folder.
            let hallctl = dir + "/hallctl"
            try FileManager.default.copyItem(atPath: builtExecutable("hallctl"), toPath: hallctl)
            chmod(hallctl, 0o755)
            try await withDaemon(config) { socket in
                // The kiosk may issue a ticket and read its info…
                let (infoStatus, info) = try await Self.asUser(Self.kiosk, [hallctl, "info", "--socket", socket])
                #expect(infoStatus == 0, "\(info)")
                #expect(info.contains("kiosk"))
                let (issue, issued) = try await Self.asUser(Self.kiosk, [hallctl, "ticket", "issue", "A", "--socket", socket])
                #expect(issue == 0, "\(issued)")
                // … but not what a technician or clerk does.
                for args in [["reset", "display-1"], ["fault", "display-1", "unplug"], ["stats"]] {
                    let (status, out) = try await Self.asUser(Self.kiosk, [hallctl] + args + ["--socket", socket])
                    #expect(status != 0, "\(args) was allowed: \(out)")
                    #expect(out.contains("notAuthorized"), "\(args): \(out)")
                }
                for path in ["/v1/ratings", "/metrics"] {
                    let (_, code) = try await Self.asUser(Self.kiosk, ["/usr/bin/curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--unix-socket", socket, "http://localhost" + path])
                    #expect(code == "403", "\(path) answered \(code) to a kiosk")
                }
                // Someone outside the socket's group cannot connect at all.
                let (outStatus, outOut) = try await Self.asUser(Self.outsider, [hallctl, "info", "--socket", socket])
                #expect(outStatus != 0)
                #expect(outOut.contains("Permission denied"), "\(outOut)")
                // The device was not touched, and each denial is in the event log with the kiosk's uid.
                let client = HallClient(socketPath: socket)
                let display: DeviceDetail = try await client.call("GET", "/v1/devices/display-1")
                #expect(display.state == .online)
                let kioskUID = Double(getpwnam(Self.kiosk)!.pointee.pw_uid)
                var denials: [JSONValue] = []
                let info2: InfoResponse = try await client.call("GET", "/v1/info")
                for try await m in client.events("/v1/events?since=0&types=access") {
                    if let data = m.data.data(using: .utf8), let v = try? JSONDecoder().decode(JSONValue.self, from: data) { denials.append(v) }
                    if Int64(m.id ?? "") ?? 0 >= info2.lastEventSeq || denials.count >= 5 { break }
                }
                #expect(denials.count == 5, "\(denials)")
                #expect(denials.allSatisfy { $0["data"]?["role"]?.stringValue == "kiosk" && $0["data"]?["uid"] == .number(kioskUID) }, "\(denials.first.map { "\($0)" } ?? "")")
            }
        }
    
        @Test("roles come from the credentials taken when the connection was accepted (SO_PEERCRED, SO_PEERGROUPS): a kiosk by a supplementary group keeps its role after the connecting process is gone")
        func credentialsAtAccept() async throws {
            guard let (dir, config) = try await Self.prepare() else { return }
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let script = dir + "/handoff_client.py"
            try FileManager.default.copyItem(atPath: repositoryRoot + "/Tests/peers/handoff_client.py", toPath: script)
            chmod(script, 0o755)
            try await withDaemon(config) { socket in
                // A kiosk route: allowed only through the supplementary group halld-kiosk.
                let (status, out) = try await Self.asUser(Self.supplementary, ["/usr/bin/python3", script, socket, "/v1/hall"])
                #expect(status == 0, "\(out)")
                #expect(out.contains("parent-gone"), "the connecting process should be gone before the request: \(out)")
                #expect(out.contains("HTTP/1.1 200"), "the kiosk role of the connecting user: \(out)")
                // A technician route stays refused to that kiosk.
                let (_, refused) = try await Self.asUser(Self.supplementary, ["/usr/bin/python3", script, socket, "/v1/ratings"])
                #expect(refused.contains("HTTP/1.1 403"), "\(refused)")
            }
        }
    }
}
