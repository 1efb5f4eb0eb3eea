import DeviceKit
import Drivers
import Foundation
@testable import HallConfiguration
import HallAPIModels
import HallClient
@testable import HallDaemon
import Simulators
import Testing
import Transports
import WireProtocols

/// A vendor's LED display and evaluator added by configuration alone: a
/// `[[profile]]` table, `driver = "profile"`.
let vendorProfileTOML = """
    [[profile]]
    name = "led-aa55"
    layout = ["AA 55", "address", "length", "command", "payload", "checksum", "0D"]
    length_counts = ["payload"]
    checksum = "xor8"
    checksum_covers = ["address", "length", "command", "payload"]
    encoding = "GB18030"
    max_payload = 120
    poll = 0x30
    idle = 0x30
    show = 0x31
    effect_codes = [0x00, 0x01]
    line_separator = "0D0A"
    evaluate = 0x40
    evaluate_data = ""
    rating = 0x41
    beep = -1
    caller_keys = { call = 0x50, pause = 0x51 }

    """

func vendorDevicesTOML(port: String) -> String {
    """
    [[device]]
    id = "keypad-7"
    kind = "keypad"
    driver = "profile"
    profile = "led-aa55"
    port = "\(port)"
    address = 7
    timeout_ms = 300
    poll_ms = 20
    keys = ["非常满意", "满意", "基本满意", "不满意", "非常不满意"]

    [[device]]
    id = "display-8"
    kind = "display"
    driver = "profile"
    profile = "led-aa55"
    port = "\(port)"
    address = 8
    lines = 2
    columns = 20

    """
}

@Suite("frame profiles from configuration", .timeLimit(.minutes(3)))
struct ProfileConfigTests {
    @Test("a [[profile]] table becomes the frame and command meanings its devices use")
    func parsed() throws {
        let named = "[[udev]]\nname = \"bus-2\"\nserial = \"FT4X9K2\"\n"
        let config = try HallConfig.parse(named + vendorProfileTOML + vendorDevicesTOML(port: "/dev/halld/bus-2"), file: "t.toml")
        let profile = try #require(config.profiles["led-aa55"])
        #expect(config.devices.map(\.profile) == [profile, profile])
        #expect(profile.commands.keys == ["call": 0x50, "pause": 0x51])
        #expect(profile.commands.beep == nil)
        // AA 55 | addr 08 | len 02 | cmd 31 | 00 'A' | xor of 08 02 31 00 41 | 0D
        let bytes = profile.frame.encode(Frame(address: 8, command: 0x31, payload: [0x00, 0x41]))
        #expect(hex(bytes) == "AA 55 08 02 31 00 41 \(hex([0x08 ^ 0x02 ^ 0x31 ^ 0x00 ^ 0x41])) 0D")
    }

    @Test("a broken profile or a device naming none is refused with its key")
    func refused() throws {
        let cases: [(String, String)] = [
            (vendorProfileTOML.replacingOccurrences(of: "\"checksum\", \"0D\"", with: "\"checksum\", \"0D\", \"crc\""), "profile[0].layout[7]"),
            (vendorProfileTOML.replacingOccurrences(of: "checksum = \"xor8\"", with: "checksum = \"md5\""), "profile[0].checksum"),
            (vendorProfileTOML.replacingOccurrences(of: "rating = 0x41", with: "rating = 0x1FF"), "profile[0].layout"),
            (vendorProfileTOML.replacingOccurrences(of: "call = 0x50", with: "call = \"x\""), "profile[0].caller_keys.call"),
            (vendorProfileTOML.replacingOccurrences(of: "rating = 0x41", with: "rating = 0x30"), "device[0].profile"),
            (vendorProfileTOML.replacingOccurrences(of: "led-aa55", with: "other"), "device[0].profile"),
            (vendorProfileTOML + vendorProfileTOML, "profile[1].name"),
        ]
        for (profile, key) in cases {
            let text = profile + (profile.contains("name = \"other\"") ? vendorDevicesTOML(port: "/x") : vendorDevicesTOML(port: "/x"))
            #expect(throws: ConfigError.self) { try HallConfig.parse(text, file: "t.toml") }
            do {
                _ = try HallConfig.parse(text, file: "t.toml")
            } catch let e as ConfigError {
                #expect(e.key == key, "\(e)")
            }
        }
    }
}

extension PeerTests {
    /// The daemon with profile devices from configuration, against the simulator
    /// speaking the same profile on a pty; a recording of the session replayed.
    @Suite("halld with profile devices, recording and replay", .timeLimit(.minutes(3)))
    struct ProfileDaemonTests {
        @Test("a vendor display shows GB18030 text and a vendor evaluator rates; the line is recorded and the recording replays")
        func vendorDevices() async throws {
            let dir = try temporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: dir) }
            var config = try simulatedConfig(dir: dir)
            let parsed = try HallConfig.parse(vendorProfileTOML + vendorDevicesTOML(port: dir + "/bus-2"), file: "vendor.toml")
            config.devices = parsed.devices
            config.profiles = parsed.profiles
            let profile = try #require(parsed.profiles["led-aa55"])
            let simulator = FrameBusSimulator(profile: profile.frame, commands: profile.commands)
            simulator.add(.keypad, address: 7)
            simulator.add(.display, address: 8)
            let peer = try PtyPeer(path: dir + "/bus-2", profile: profile.frame) { simulator.respond(to: $0) }
            defer { peer.hangUpSoon() }

            let recording: String = try await withDaemon(config) { socket in
                let client = HallClient(socketPath: socket)
                let devices: [DeviceSummary] = try await client.call("GET", "/v1/devices")
                #expect(Set(devices.map(\.driver)) == ["profile"])
                let started: RecordingResponse = try await client.call("POST", "/v1/devices/keypad-7/recording", json: RecordingRequest(seconds: 60))
                #expect(started.file.hasPrefix(dir + "/state/recordings/keypad-7-"))

                // 镕 is in GB18030 but not in GB2312: the profile's encoding is used.
                let content = DisplayContent(lines: ["A012 请到3号窗口", "朱镕"], effect: .scroll)
                let _: DisplayContent = try await client.call("PUT", "/v1/displays/display-8/content", json: content)
                let shown = try #require(simulator.shown(address: 8))
                #expect(shown.effect == 0x01)
                #expect(shown.lines == content.lines)
                // Two effect codes were declared: flash is beyond this display.
                let flash = try await client.send(
                    "PUT", "/v1/displays/display-8/content", body: try JSONEncoder().encode(DisplayContent(lines: ["A013"], effect: .flash)),
                    contentType: "application/json")
                #expect(flash.status == 400)
                #expect(flash.apiError?.message.contains("flash") == true)

                #expect(simulator.pressCaller(address: 7, "pause"))
                let job: Job = try await client.call("POST", "/v1/keypads/keypad-7/ratings", json: RatingJobRequest(ticket: "A012", timeoutSeconds: 10))
                try await eventually("simulator.isEvaluating(address: 7)") { simulator.isEvaluating(address: 7) }
                #expect(simulator.pressRating(address: 7, key: 2))
                var done = job
                done = try await poll("the job at " + "/v1/rating-jobs/\(job.id)", { () async throws -> Job in try await client.call("GET", "/v1/rating-jobs/\(job.id)") }, until: { $0.state.isFinal })
                #expect(done.rating?.level == .satisfied)

                let stopped: RecordingResponse = try await client.call("DELETE", "/v1/devices/keypad-7/recording")
                #expect(stopped.file == started.file)
                #expect((stopped.chunks ?? 0) > 4)
                let again = try await client.send("DELETE", "/v1/devices/keypad-7/recording")
                #expect(again.status == 404)
                return stopped.file
            }

            // The recording holds the evaluate command and the rating answer, in hex.
            let text = try String(contentsOfFile: recording, encoding: .utf8)
            let evaluate = hex(profile.frame.encode(Frame(address: 7, command: 0x40)))
            let rating = hex(profile.frame.encode(Frame(address: 7, command: 0x41, payload: [2])))
            #expect(text.contains(" tx \(evaluate)"))
            #expect(text.contains(" rx \(rating)"))
            #expect(text.hasPrefix("# halld serial recording"))

            // Replayed, with no device at all, the same driver gets the same rating.
            let replay = ReplayPort(try SerialRecording.load(file: recording))
            let (level, _) = try await replayRating(replay, profile: profile, address: 7)
            #expect(level == .satisfied)
            #expect(replay.counts.unanswered == 0)
        }

        @Test("a committed hall-bus recording replays: the evaluator's answer is the rating, the garbage in it is counted")
        func committedRecording() async throws {
            let recording = try SerialRecording.load(file: repositoryRoot + "/Tests/HallTests/Recordings/hallbus-rating-with-noise.rec")
            let replay = ReplayPort(recording)
            let (level, counters) = try await replayRating(replay, profile: .hallBus, address: 1)
            #expect(level == .veryDissatisfied)
            #expect(counters[.communicationErrors] >= 1)
        }

        @Test("a recording file with a bad line names the line")
        func badRecording() {
            #expect(throws: SerialRecording.ParseError.self) { try SerialRecording(text: "# x\n0.1 tx FF 68\n0.2 sideways 00\n") }
            do {
                _ = try SerialRecording(text: "# x\n0.1 tx FF 68\n0.2 sideways 00\n")
            } catch {
                #expect(error.line == 3)
            }
        }
    }
}

/// Runs a keypad over a replayed line and asks it for one rating.
func replayRating(
    _ replay: ReplayPort, profile: ProfileConfig, address: UInt16
) async throws -> (RatingLevel, DeviceCounters) {
    let events = EventRecorder()
    let line = SerialLine(replaying: replay)
    let keypad = ProfileKeypad(
        id: DeviceID("keypad-1")!, name: "replayed", link: FrameLink(line: line, address: address, profile: profile.frame, commands: profile.commands,
        timeout: .milliseconds(100), retries: 1), pollInterval: .milliseconds(5))
    let registry = DeviceRegistry(devices: [keypad], events: events, retry: RetryPolicy(initial: .milliseconds(50), maximum: .milliseconds(200)), logger: testLogger)
    return try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { await registry.run() }
        _ = try await events.status("keypad-1", .online)
        let level = try await keypad.requestRating(ticket: "A001", timeout: .seconds(5))
        let counters = await registry.snapshot(DeviceID("keypad-1")!)?.counters ?? DeviceCounters()
        group.cancelAll()
        return (level, counters)
    }
}
