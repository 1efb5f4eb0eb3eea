import Foundation
import Testing

/// The `halld` executable as a technician runs it: `--check-config` on good and broken files.
@Suite("halld command line")
struct HalldCommandTests {
    /// halld sits next to the test bundle in the build folder.
    static var halld: String {
        let testBinary = URL(fileURLWithPath: ProcessInfo.processInfo.arguments[0]).resolvingSymlinksInPath()
        var dir = testBinary.deletingLastPathComponent()
        while dir.path != "/" && !FileManager.default.fileExists(atPath: dir.appendingPathComponent("halld").path) {
            dir.deleteLastPathComponent()
        }
        return dir.appendingPathComponent("halld").path
    }

    static func run(_ arguments: [String]) throws -> (status: Int32, out: String, err: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: halld)
        process.arguments = arguments
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        process.waitUntilExit()
        return (
            process.terminationStatus, String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self),
            String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        )
    }

    @Test("--check-config accepts the shipped example")
    func valid() throws {
        let r = try Self.run(["--check-config", "--config", repositoryRoot + "/Config/halld.toml"])
        #expect(r.status == 0)
        #expect(r.out.contains("valid, 4 devices"))
    }

    @Test("a broken configuration stops halld with the file, the key and exit status 78")
    func broken() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let file = dir + "/broken.toml"
        try "[[device]]\nid = \"cam-1\"\nkind = \"camera\"\ndriver = \"simulated\"\n".write(toFile: file, atomically: true, encoding: .utf8)
        let r = try Self.run(["--check-config", "--config", file])
        #expect(r.status == 78)
        #expect(r.err == "halld: configuration error: \(file): device[0].kind: expected one of scanner, printer, keypad, display, found \"camera\"\n")
        // Without --check-config the daemon does not start either.
        let start = try Self.run(["--config", file, "--socket", dir + "/s.sock", "--state-dir", dir + "/state"])
        #expect(start.status == 78)
        #expect(!FileManager.default.fileExists(atPath: dir + "/s.sock"))
    }
}
