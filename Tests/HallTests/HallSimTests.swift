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
    /// The hall-sim executable as a person runs it: commands on its standard input
    /// (a FIFO here), devices on the pty behind its link, halld's real drivers on the other side.
    @Suite("hall-sim", .timeLimit(.minutes(3)))
    struct HallSimTests {
        struct SimError: Error, CustomStringConvertible {
            let description: String
            init(_ d: String) { description = d }
        }

        /// hall-sim with its commands on standard input and its answers in its output.
        struct HallSim: Sendable {
            let child: Child

            static func start(arguments: [String]) async throws -> HallSim {
                let sim = HallSim(child: try await Child.start([builtExecutable("hall-sim")] + arguments, interactive: true))
                try await sim.waitFor("address")
                return sim
            }

            var log: String { child.output }

            func send(_ line: String) { child.send(line) }

            /// Waits until hall-sim's output holds `text` (it answers every command with a line).
            func waitFor(_ text: String, seconds: Int = 10) async throws { try await child.waitForOutput(text, within: .seconds(seconds)) }

            /// `quit`: hall-sim removes its link and ends (killed if it does not within 5 s).
            func quit() async {
                send("quit")
                child.closeInput()
                if await child.waitForExit(within: .seconds(5)) == nil { await child.stop(signal: SIGKILL) }
            }
        }

        @Test("halld's Modbus drivers against hall-sim --protocol modbus: a display shows, a key pressed in hall-sim rates, quit removes the link")
        func modbus() async throws {
            let dir = try temporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let sim = try await HallSim.start(arguments: ["--link", dir + "/bus-3", "--protocol", "modbus", "--keypad", "5", "--display", "6"])
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
            do {
            try await withDaemon(config) { socket in
                let client = HallClient(socketPath: socket)
                let _: DisplayContent = try await client.call("PUT", "/v1/displays/display-6/content", json: DisplayContent(lines: ["A012 请到3号窗口"], effect: .flash))
                sim.send("show 6")
                try await sim.waitFor("effect 2: A012 请到3号窗口")

                let job: Job = try await client.call("POST", "/v1/keypads/keypad-5/ratings", json: RatingJobRequest(ticket: "A012", timeoutSeconds: 10))
                var pressed = false
                for _ in 0..<200 where !pressed {
                    sim.send("press 5 1")
                    try await Task.sleep(for: .milliseconds(20))
                    pressed = sim.log.contains("pressed key 1 on 5")
                }
                #expect(pressed)
                var done = job
                done = try await poll("the job at " + "/v1/rating-jobs/\(job.id)", { () async throws -> Job in try await client.call("GET", "/v1/rating-jobs/\(job.id)") }, until: { $0.state.isFinal })
                #expect(done.rating?.level == .verySatisfied)
            }
            } catch {
                await sim.quit()
                throw error
            }
            await sim.quit()
            #expect(!FileManager.default.fileExists(atPath: dir + "/bus-3"), "hall-sim left its link behind")
            #expect((try? FileManager.default.destinationOfSymbolicLink(atPath: dir + "/bus-3")) == nil)
        }
    }
}
