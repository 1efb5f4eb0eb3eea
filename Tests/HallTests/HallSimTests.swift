import DeviceKit
import Foundation
import HallAPIModels
import HallClient
@testable import HallDaemon
import Testing

#if canImport(Glibc)
import Glibc
#endif

extension PeerTests {
    /// The hall-sim executable as a person runs it: commands on its standard input
    /// (a FIFO here), devices on the pty behind its link, halld's real drivers on the other side.
    @Suite("hall-sim")
    struct HallSimTests {
        struct SimError: Error, CustomStringConvertible {
            let description: String
            init(_ d: String) { description = d }
        }

        final class HallSim: @unchecked Sendable {
            // @unchecked: Process and FileHandle are used from one test task at a time.
            let dir: String
            let process = Process()
            let commands: FileHandle

            init(dir: String, arguments: [String]) throws {
                self.dir = dir
                guard mkfifo(dir + "/commands", 0o600) == 0 else { throw SimError("mkfifo failed") }
                process.executableURL = URL(fileURLWithPath: "/bin/sh")
                process.arguments = ["-c", "exec \"$@\" < \(dir)/commands > \(dir)/sim.log 2>&1", "sh", builtExecutable("hall-sim")] + arguments
                process.standardInput = FileHandle.nullDevice
                process.standardOutput = FileHandle.nullDevice
                process.standardError = FileHandle.nullDevice
                try process.run()
                // Opening the FIFO for writing waits for hall-sim's shell to open it for reading.
                guard let handle = FileHandle(forWritingAtPath: dir + "/commands") else { throw SimError("cannot open the FIFO") }
                commands = handle
                try waitFor("address")
            }

            var log: String { (try? String(contentsOfFile: dir + "/sim.log", encoding: .utf8)) ?? "" }

            func send(_ line: String) { commands.write(Data((line + "\n").utf8)) }

            /// Waits until hall-sim's output holds `text` (it answers every command with a line).
            func waitFor(_ text: String, seconds: Double = 10) throws {
                let deadline = Date().addingTimeInterval(seconds)
                while !log.contains(text) {
                    guard Date() < deadline, process.isRunning else { throw SimError("hall-sim: no \"\(text)\" in: \(log)") }
                    Thread.sleep(forTimeInterval: 0.01)
                }
            }

            /// `quit`: hall-sim removes its link and ends.
            func quit() {
                send("quit")
                try? commands.close()
                let deadline = Date().addingTimeInterval(5)
                while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.01) }
                if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            }
        }

        @Test("halld's Modbus drivers against hall-sim --protocol modbus: a display shows, a key pressed in hall-sim rates, quit removes the link")
        func modbus() async throws {
            let dir = try temporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let sim = try HallSim(dir: dir, arguments: ["--link", dir + "/bus-3", "--protocol", "modbus", "--keypad", "5", "--display", "6"])
            var config = try simulatedConfig(dir: dir)
            config.devices = try HallConfig.parse(
                """
                [[device]]
                id = "keypad-5"
                kind = "keypad"
                driver = "modbus"
                port = "\(dir)/bus-3"
                address = 5
                poll_ms = 20
                [[device]]
                id = "display-6"
                kind = "display"
                driver = "modbus"
                port = "\(dir)/bus-3"
                address = 6
                """, file: "modbus.toml"
            ).devices
            try await withDaemon(config) { socket in
                let client = HallClient(socketPath: socket)
                let _: DisplayContent = try await client.call("PUT", "/v1/displays/display-6/content", json: DisplayContent(lines: ["A012 请到3号窗口"], effect: .flash))
                sim.send("show 6")
                try sim.waitFor("effect 2: A012 请到3号窗口")

                let job: Job = try await client.call("POST", "/v1/keypads/keypad-5/ratings", json: RatingJobRequest(ticket: "A012", timeoutSeconds: 10))
                var pressed = false
                for _ in 0..<200 where !pressed {
                    sim.send("press 5 1")
                    try await Task.sleep(for: .milliseconds(20))
                    pressed = sim.log.contains("pressed key 1 on 5")
                }
                #expect(pressed)
                var done = job
                while !done.state.isFinal { done = try await client.call("GET", "/v1/rating-jobs/\(job.id)") }
                #expect(done.rating?.level == .verySatisfied)
            }
            sim.quit()
            #expect(!FileManager.default.fileExists(atPath: dir + "/bus-3"), "hall-sim left its link behind")
            #expect((try? FileManager.default.destinationOfSymbolicLink(atPath: dir + "/bus-3")) == nil)
        }
    }
}
