import ChildProcess
import Foundation
import Testing

extension PeerTests {
    /// The `halld` executable as a technician runs it: `--check-config` on good and broken files.
    @Suite("halld command line", .timeLimit(.minutes(3)))
    struct HalldCommandTests {
        static var halld: String { builtExecutable("halld") }

        /// Runs halld to its end (within a minute) with its output and errors apart.
        static func run(_ arguments: [String]) async throws -> (status: Int32, out: String, err: String) {
            try await runCommandSplit([halld] + arguments)
        }

        @Test("--check-config accepts the shipped example")
        func valid() async throws {
            let r = try await Self.run(["--check-config", "--config", repositoryRoot + "/Config/halld.toml"])
            #expect(r.status == 0)
            #expect(r.out.contains("valid, 5 devices"))
        }

        @Test("a broken configuration stops halld with the file, the key and exit status 78")
        func broken() async throws {
            let dir = try temporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let file = dir + "/broken.toml"
            try "[[device]]\nid = \"cam-1\"\nkind = \"camera\"\ndriver = \"simulated\"\n".write(toFile: file, atomically: true, encoding: .utf8)
            let r = try await Self.run(["--check-config", "--config", file])
            #expect(r.status == 78)
            #expect(r.err == "halld: configuration error: \(file): device[0].kind: expected one of scanner, printer, keypad, display, speaker, found \"camera\"\n")
            // Without --check-config the daemon does not start either.
            let start = try await Self.run(["--config", file, "--socket", dir + "/s.sock", "--state-dir", dir + "/state"])
            #expect(start.status == 78)
            #expect(!FileManager.default.fileExists(atPath: dir + "/s.sock"))
        }
    }
}

/// An executable of this package, which sits next to the test bundle in the build folder.
func builtExecutable(_ name: String) -> String {
    let testBinary = URL(fileURLWithPath: ProcessInfo.processInfo.arguments[0]).resolvingSymlinksInPath()
    var dir = testBinary.deletingLastPathComponent()
    while dir.path != "/" && !FileManager.default.fileExists(atPath: dir.appendingPathComponent(name).path) {
        dir.deleteLastPathComponent()
    }
    return dir.appendingPathComponent(name).path
}
