import ChildProcess
import DeviceKit
import Foundation
import HallAPIModels
import HallClient
import HallConfiguration
import HallDaemon
import HallModel
import Speech
import Synchronization
import Testing
import WireProtocols

/// Calls said aloud through real ALSA: no sound card, ALSA's `file` plugin over the
/// `null` PCM writes every sample played to a file the test reads. Clips are distinct
/// constant levels, so the order and completeness of what was played can be read
/// from the samples.
@Suite("Speakers: calls said through ALSA, queued, never cut off", .timeLimit(.minutes(3)))
struct SpeakerTests {
    /// The clips of a test voice: each a constant level of its own, 16 kHz.
    static let rate = 16_000
    static let clipNames = ["请", "号", "到", "窗口", "办理", "A", "B"] + (0...9).map(String.init)
    static func level(_ name: String) -> Int16 { Int16(1000 + 100 * clipNames.firstIndex(of: name)!) }
    static func length(_ name: String) -> Int { name == "chime" ? 1600 : 400 + 40 * clipNames.firstIndex(of: name)! }
    static let chimeLevel: Int16 = 500

    static func writeClips(_ dir: String) throws {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        for name in clipNames {
            let audio = PCMAudio(sampleRate: rate, samples: Array(repeating: level(name), count: length(name)))
            try WAV.encode(audio).write(to: URL(fileURLWithPath: "\(dir)/\(name).wav"))
        }
        try WAV.encode(PCMAudio(sampleRate: rate, samples: Array(repeating: chimeLevel, count: length("chime")))).write(to: URL(fileURLWithPath: "\(dir)/chime.wav"))
        // A broken clip is skipped, named, and does not stop the voice.
        try Data("RIFF\u{0}\u{0}\u{0}\u{0}WAVEjunk".utf8).write(to: URL(fileURLWithPath: "\(dir)/坏.wav"))
    }

    /// Runs of one non-zero level in raw S16LE samples: (level, samples), silence left out.
    static func runs(_ data: Data) -> [(Int16, Int)] {
        var runs: [(Int16, Int)] = []
        let samples = data.withUnsafeBytes { Array($0.bindMemory(to: Int16.self)) }
        var previous: Int16 = 0
        for s in samples {
            if s != 0, s == previous { runs[runs.count - 1].1 += 1 } else if s != 0 { runs.append((s, 1)) }
            previous = s
        }
        return runs
    }

    /// The runs a sentence's clips make, in order.
    static func expected(_ clips: [String], repeats: Int) -> [(Int16, Int)] {
        [(chimeLevel, length("chime"))] + Array(repeating: clips.map { (level($0), length($0)) }, count: repeats).flatMap { $0 }
    }

    static func config(_ dir: String, speaker: String, hall: String = "") throws -> HallConfig {
        var config = try HallConfig.parse(configText(dir, speaker: speaker, hall: hall), file: "\(dir)/halld.toml")
        config.heartbeatSeconds = 1
        config.logLevel = "critical"
        return config
    }

    /// A `[[device]]` table of a speaker.
    static func speakerTable(_ id: String = "speaker-1", driver: String, _ keys: String) -> String {
        "[[device]]\nid = \"\(id)\"\nkind = \"speaker\"\ndriver = \"\(driver)\"\n\(keys)\n"
    }

    static func openWindows(_ client: HallClient, _ numbers: [Int]) async throws {
        for n in numbers {
            let _: HallWindow = try await client.call("PUT", "/v1/windows/\(n)/status", json: WindowStatusRequest(state: .open))
        }
    }

    static func queue(_ client: HallClient, _ speaker: String = "speaker-1") async throws -> AnnouncementQueue {
        try await client.call("GET", "/v1/speakers/\(speaker)/announcements")
    }

    /// Waits until `count` announcements are done (finished, failed or dropped).
    static func waitDone(_ client: HallClient, _ count: Int, within limit: Duration = .seconds(30)) async throws -> [Announcement] {
        try await poll("\(count) announcements done", within: limit, every: .milliseconds(50)) { try await queue(client) } until: {
            $0.recent.count >= count && $0.playing == nil && $0.queued.isEmpty
        }.recent.reversed()
    }

    @Test("a call on a clip voice is the chime, then every clip of the sentence in order, twice, whole; two calls at once play one after the other")
    func clipsInOrder() async throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try Self.writeClips(dir + "/clips")
        let speaker = Self.speakerTable(driver: "alsa", """
                pcm = "file:'\(dir)/out.raw',raw"
                voice = "clips:\(dir)/clips"
                gap_ms = 20
                pause_ms = 100
                """)
        let config = try Self.config(dir, speaker: speaker, hall: "recall_min_seconds = 0")
        try await withDaemon(config) { socket in
            let client = HallClient(socketPath: socket)
            let detail: DeviceDetail = try await client.call("GET", "/v1/devices/speaker-1")
            #expect(detail.state == .online, "\(detail.state) \(detail.reasons)")
            try await Self.openWindows(client, [3, 4])
            let first: Ticket = try await client.call("POST", "/v1/tickets", json: IssueRequest(service: "A"))
            let second: Ticket = try await client.call("POST", "/v1/tickets", json: IssueRequest(service: "A"))
            // Two windows call at once: the second call waits for the first to be said.
            async let a: Ticket = client.call("POST", "/v1/windows/3/call-next")
            async let b: Ticket = client.call("POST", "/v1/windows/4/call-next")
            let (calledA, calledB) = try await (a, b)
            #expect(Set([calledA.number, calledB.number]) == Set([first.number, second.number]))
            let done = try await Self.waitDone(client, 2)
            #expect(done.map(\.state) == [.finished, .finished], "\(done)")
            #expect(done.allSatisfy { $0.synthesized == nil && $0.unsaid == nil }, "\(done)")
            let queue = try await Self.queue(client)
            #expect(queue.voice.contains("17 clips") && queue.voice.contains("坏.wav"), "\(queue.voice)")

            // What ALSA received: each call whole, in the order they were said.
            let captured = Self.runs(try Data(contentsOf: URL(fileURLWithPath: dir + "/out.raw")))
            var wanted: [(Int16, Int)] = []
            for a in done {
                let digits = a.text.filter(\.isNumber).map(String.init)
                #expect(a.text == "请\(a.ticket == first.id ? first.number : second.number)号到\(a.window!)号窗口办理")
                let number = (a.ticket == first.id ? first.number : second.number)
                let clips = ["请", "A"] + number.dropFirst().map(String.init) + ["号", "到", String(a.window!), "号", "窗口", "办理"]
                #expect(digits.count == 4)
                wanted += Self.expected(clips, repeats: 2)
            }
            #expect(captured.count == wanted.count, "captured \(captured.count) runs, wanted \(wanted.count)")
            for (i, (got, want)) in zip(captured, wanted).enumerated() {
                #expect(got.0 == want.0 && got.1 == want.1, "run \(i): level \(got.0) × \(got.1) samples, wanted level \(want.0) × \(want.1)")
            }
            // A free announcement: said once, its words by their clips.
            let posted = try await client.send("POST", "/v1/speakers/speaker-1/announcements", body: Data(#"{"text":"请B号"}"#.utf8), contentType: "application/json")
            #expect(posted.status == 202, "\(posted.text)")
            let all = try await Self.waitDone(client, 3)
            #expect(all.last?.kind == .text && all.last?.state == .finished, "\(all)")
            let after = Self.runs(try Data(contentsOf: URL(fileURLWithPath: dir + "/out.raw")))
            let tail = Array(after.suffix(4))
            let want = Self.expected(["请", "B", "号"], repeats: 1)
            #expect(tail.map(\.0) == want.map(\.0) && tail.map(\.1) == want.map(\.1), "\(tail)")

            // A recall is queued and said like a call.
            let recalled: Ticket = try await client.call("POST", "/v1/windows/3/recall")
            let withRecall = try await Self.waitDone(client, 4)
            #expect(withRecall.last?.kind == .recall && withRecall.last?.ticket == recalled.id && withRecall.last?.state == .finished, "\(withRecall)")
            // The external health check plays the voice's chime.
            let check: HealthReport = try await client.call("POST", "/v1/devices/speaker-1/health", json: HealthCheckRequest(level: .external))
            #expect(check.passed, "\(check.text)")
            let last = Self.runs(try Data(contentsOf: URL(fileURLWithPath: dir + "/out.raw"))).last
            #expect(last?.0 == Self.chimeLevel && last?.1 == Self.length("chime"), "\(String(describing: last))")
        }
    }

    @Test("espeak-ng says a call: non-silent audio of a plausible length (sox), through a PCM of a private asoundrc, in a halld process")
    func espeakThroughAsoundrc() async throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // The daemon's own ALSA configuration: HOME points at the test's folder.
        try "pcm.capture { type file; slave.pcm \"null\"; file \"\(dir)/out.raw\"; format \"raw\" }\n".write(
            toFile: dir + "/.asoundrc", atomically: true, encoding: .utf8)
        let speaker = Self.speakerTable(driver: "alsa", """
                pcm = "capture"
                voice = "espeak-ng"
                repeat = 1
                """)
        try Self.configText(dir, speaker: speaker).write(toFile: dir + "/halld.toml", atomically: true, encoding: .utf8)
        // XDG_RUNTIME_DIR too: ALSA's PulseAudio hook, reading the configuration, would
        // otherwise make a /tmp/pulse-* folder and leave it (halld.service has PrivateTmp).
        let halld = try await Child.start(
            [builtExecutable("halld"), "--config", dir + "/halld.toml", "--log-level", "notice"], environment: ["HOME": dir, "XDG_RUNTIME_DIR": dir])
        do {
            let client = HallClient(socketPath: dir + "/halld.sock")
            try await eventually("halld answers", within: .seconds(20), seen: { halld.output.suffix(2000).description }) {
                (try? await client.send("GET", "/v1/health"))?.status == 200
            }
            try await Self.openWindows(client, [3])
            let _: Ticket = try await client.call("POST", "/v1/tickets", json: IssueRequest(service: "A"))
            let called: Ticket = try await client.call("POST", "/v1/windows/3/call-next")
            let done = try await Self.waitDone(client, 1)
            #expect(done.first?.state == .finished && done.first?.ticket == called.id, "\(done)")
            let stat = try await runCommandSplit(["/usr/bin/sox", "-t", "raw", "-r", "22050", "-e", "signed", "-b", "16", "-c", "1", dir + "/out.raw", "-n", "stat"])
            func figure(_ name: String) -> Double? {
                stat.err.split(separator: "\n").first { $0.hasPrefix(name) }.flatMap { Double($0.split(separator: ":").last!.trimmingCharacters(in: .whitespaces)) }
            }
            let seconds = try #require(figure("Length (seconds)"), "\(stat.err)")
            let rms = try #require(figure("RMS     amplitude"), "\(stat.err)")
            // The chime (0.9 s) and "请A零零一号到三号窗口办理" at 150 words a minute.
            #expect((2.5...12).contains(seconds), "\(seconds) s")
            #expect(rms > 0.02, "RMS amplitude \(rms): silence?")
            _ = await halld.stop()
        } catch {
            _ = await halld.stop()
            throw ProcessFailure("\(error)\n--- halld:\n\(halld.output.suffix(3000))")
        }
    }

    @Test("a PCM that cannot be opened is noDevice with ALSA's reason; the hall still calls on its displays and the announcement fails, named")
    func pcmMissing() async throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let speaker = Self.speakerTable(driver: "alsa", """
                pcm = "halld-no-such-pcm"
                """)
        try await withDaemon(try Self.config(dir, speaker: speaker)) { socket in
            let client = HallClient(socketPath: socket)
            let detail: DeviceDetail = try await client.call("GET", "/v1/devices/speaker-1")
            #expect(detail.state == .noDevice && detail.reasons == [Reason.deviceAbsent], "\(detail.state) \(detail.reasons)")
            #expect(detail.lastError?.message.contains("halld-no-such-pcm") == true && detail.lastError?.message.contains("No such file or directory") == true, "\(String(describing: detail.lastError))")
            try await Self.openWindows(client, [3])
            let _: Ticket = try await client.call("POST", "/v1/tickets", json: IssueRequest(service: "A"))
            let called: Ticket = try await client.call("POST", "/v1/windows/3/call-next")
            let shown: DisplayContent = try await client.call("GET", "/v1/displays/display-3/content")
            #expect(shown.lines.first?.contains(called.number) == true, "\(shown)")
            let done = try await Self.waitDone(client, 1)
            #expect(done.first?.state == .failed && done.first?.error?.contains("noDevice") == true, "\(done)")
        }
    }

    @Test("the queue is bounded: announcements play in order, each after the last ended; one too many is refused and announced as dropped; bad requests name the field")
    func queueBounded() async throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try Self.writeClips(dir + "/clips")
        // A four-second chime: the first announcement is still playing when the fourth
        // request comes, however slow the machine.
        try WAV.encode(PCMAudio(sampleRate: Self.rate, samples: Array(repeating: Self.chimeLevel, count: 4 * Self.rate))).write(to: URL(fileURLWithPath: dir + "/clips/chime.wav"))
        let speaker = Self.speakerTable(driver: "simulated", """
                voice = "clips:\(dir)/clips"
                max_queued = 2
                """)
        try await withDaemon(try Self.config(dir, speaker: speaker)) { socket in
            let client = HallClient(socketPath: socket)
            let seen = Mutex<[String]>([])
            let reader = Task {
                for try await m in client.events("/v1/events?since=0&types=announcement.dropped,announcement.started,announcement.finished") {
                    seen.withLock { $0.append(m.event) }
                }
            }
            defer { reader.cancel() }
            var statuses: [Int] = []
            for text in ["请A号", "请B号", "请1号", "请2号"] {
                let body = try JSONEncoder().encode(AnnouncementRequest(text: text, repeat: 2))
                let r = try await client.send("POST", "/v1/speakers/speaker-1/announcements", body: body, contentType: "application/json")
                statuses.append(r.status)
                if r.status == 503 { #expect(r.text.contains("max_queued = 2"), "\(r.text)") }
            }
            // One plays, two wait, the fourth does not fit (if the first had not started yet, the third would not either).
            #expect(statuses.filter { $0 == 202 }.count >= 2 && statuses.last == 503, "\(statuses)")
            let done = try await Self.waitDone(client, 4, within: .seconds(60))
            let played = done.filter { $0.state == .finished }
            #expect(done.filter { $0.state == .dropped }.count == 4 - played.count, "\(done)")
            for (earlier, later) in zip(played, played.dropFirst()) {
                let ended = try #require(earlier.finishedAt.flatMap(Timestamp.date)), started = try #require(later.startedAt.flatMap(Timestamp.date))
                #expect(started >= ended, "\(later.text) started \(later.startedAt!) before \(earlier.text) ended \(earlier.finishedAt!)")
            }
            try await eventually("an event for each announcement", seen: { "\(seen.withLock { $0 })" }) {
                seen.withLock { $0.filter { $0 == "announcement.finished" }.count == played.count && $0.filter { $0 == "announcement.dropped" }.count == 4 - played.count }
            }
            #expect(seen.withLock { $0 }.filter { $0 != "announcement.dropped" } == Array(repeating: ["announcement.started", "announcement.finished"], count: played.count).flatMap { $0 })

            func refused(_ path: String, _ body: String) async throws -> (Int, String) {
                let r = try await client.send("POST", path, body: Data(body.utf8), contentType: "application/json")
                return (r.status, r.text)
            }
            let empty = try await refused("/v1/speakers/speaker-1/announcements", #"{"text":"  "}"#)
            #expect(empty.0 == 400 && empty.1.contains(#""field":"text""#), "\(empty)")
            let many = try await refused("/v1/speakers/speaker-1/announcements", #"{"text":"请","repeat":9}"#)
            #expect(many.0 == 400 && many.1.contains(#""field":"repeat""#), "\(many)")
            let unknownKey = try await refused("/v1/speakers/speaker-1/announcements", #"{"text":"请","loud":true}"#)
            #expect(unknownKey.0 == 400 && unknownKey.1.contains("loud"), "\(unknownKey)")
            #expect(try await refused("/v1/speakers/speaker-9/announcements", #"{"text":"请"}"#).0 == 404)
            #expect(try await refused("/v1/speakers/display-3/announcements", #"{"text":"请"}"#).0 == 409)
        }
    }

    @Test("a clip voice cuts a sentence into the longest clips, leaves pauses for punctuation, and has espeak-ng say what no clip covers")
    func longestMatch() async throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try Self.writeClips(dir)
        for name in ["窗", "口办"] {
            try WAV.encode(PCMAudio(sampleRate: Self.rate, samples: [1, 2, 3])).write(to: URL(fileURLWithPath: "\(dir)/\(name).wav"))
        }
        let voice = try ClipVoice.load(directory: dir, logger: testLogger)
        #expect(voice.pieces("请A12号到3号窗口办理") == [
            .clip("请"), .clip("A"), .clip("1"), .clip("2"), .clip("号"), .clip("到"), .clip("3"), .clip("号"), .clip("窗口"), .clip("办理"),
        ])
        #expect(voice.pieces("请稍候，A1号") == [.clip("请"), .missing("稍候"), .pause, .clip("A"), .clip("1"), .clip("号")])
        let said = await voice.say("请稍候")
        #expect(said.synthesized == ["稍候"] && said.unsaid.isEmpty)
        // 请 (880 samples) and espeak-ng's words, resampled to the clips' 16 kHz: more than 0.3 s.
        #expect(said.audio.sampleRate == Self.rate && said.audio.samples.count > Self.length("请") + Self.rate * 3 / 10, "\(said.audio.samples.count)")
        #expect(voice.skipped.count == 1 && voice.skipped[0].hasPrefix("坏.wav: byte "), "\(voice.skipped)")
        // A float WAV: refused at the byte of its format code.
        var float = WAV.encode(PCMAudio(sampleRate: Self.rate, samples: [1, 2]))
        float[20] = 3
        #expect(throws: WAVError(offset: 20, message: "format 3 is not PCM (1): save the clip as 16-bit PCM WAV")) { _ = try WAV.decode(float) }
    }

    @Test("hallctl voice make writes a clip folder that covers every call (the services' names too); hallctl say queues a text, announcements lists it")
    func hallctlVoiceAndSay() async throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let speaker = Self.speakerTable(driver: "simulated", """
                voice = "espeak-ng"
                """)
        try Self.configText(dir, speaker: speaker).write(toFile: dir + "/halld.toml", atomically: true, encoding: .utf8)
        let hallctl = builtExecutable("hallctl")
        let made = try await runCommand([hallctl, "voice", "make", dir + "/voice", "--config", dir + "/halld.toml"], within: .seconds(120))
        #expect(made.status == 0 && made.output.contains("43 clips written"), "\(made.output)")
        let voice = try ClipVoice.load(directory: dir + "/voice", logger: testLogger)
        #expect(voice.skipped.isEmpty && voice.sampleRate == 22_050, "\(voice.description)")
        for sentence in ["请A012号到3号窗口办理", "请Z987号到45号窗口办理", "社会保障"] {
            #expect(voice.pieces(sentence).allSatisfy { if case .clip = $0 { true } else { false } }, "\(sentence): \(voice.pieces(sentence))")
        }
        // Each clip says something: espeak-ng's words, not silence.
        let digit = try WAV.decode(Data(contentsOf: URL(fileURLWithPath: dir + "/voice/7.wav")))
        #expect(digit.samples.count > 2_000 && digit.samples.contains { abs(Int($0)) > 1_000 }, "\(digit.samples.count) samples")
        // A second run keeps what is there (recordings put in by hand).
        let again = try await runCommand([hallctl, "voice", "make", dir + "/voice"])
        #expect(again.status == 0 && again.output.contains("0 clips written with espeak-ng, 42 already there kept"), "\(again.output)")

        var config = try HallConfig.load(file: dir + "/halld.toml")
        config.logLevel = "critical"
        try await withDaemon(config) { socket in
            let said = try await runCommand([hallctl, "say", "请带好随身物品", "--repeat", "2", "--socket", socket])
            #expect(said.status == 0 && said.output.contains("queued on speaker-1: 请带好随身物品"), "\(said.output)")
            let listed = try await runCommand([hallctl, "announcements", "--socket", socket])
            #expect(listed.status == 0 && listed.output.contains("voice espeak-ng") && listed.output.contains("请带好随身物品"), "\(listed.output)")
            let bad = try await runCommand([hallctl, "say", "请", "--repeat", "7", "--socket", socket])
            #expect(bad.status == 1 && bad.output.contains("repeat must be 1 to 5"), "\(bad.output)")
        }
    }

    @Test("zones: a window with its own speaker has its calls said there, the other windows' on the hall's speaker")
    func zones() async throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try Self.writeClips(dir + "/clips")
        let speakers = ["speaker-1", "speaker-2"].map { Self.speakerTable($0, driver: "simulated", "voice = \"clips:\(dir)/clips\"\nrepeat = 1") }
        var config = try Self.config(dir, speaker: speakers.joined(separator: "\n"))
        #expect(config.hall?.windows[1].number == 4)
        config.hall!.windows[1].speaker = DeviceID("speaker-2")
        try await withDaemon(config) { socket in
            let client = HallClient(socketPath: socket)
            try await Self.openWindows(client, [3, 4])
            for _ in 0..<2 { let _: Ticket = try await client.call("POST", "/v1/tickets", json: IssueRequest(service: "A")) }
            let at3: Ticket = try await client.call("POST", "/v1/windows/3/call-next")
            let at4: Ticket = try await client.call("POST", "/v1/windows/4/call-next")
            let hall = try await poll("window 3's call on the hall's speaker", within: .seconds(10)) { try await Self.queue(client, "speaker-1") } until: { !$0.recent.isEmpty }
            let zone = try await poll("window 4's call on its own speaker", within: .seconds(10)) { try await Self.queue(client, "speaker-2") } until: { !$0.recent.isEmpty }
            #expect(hall.recent.map(\.ticket) == [at3.id] && hall.queued.isEmpty && hall.playing == nil, "\(hall)")
            #expect(zone.recent.map(\.ticket) == [at4.id] && zone.queued.isEmpty && zone.playing == nil, "\(zone)")
        }
    }

    /// Windows 3 and 4 with their displays, one service, `speaker` as the hall's speaker.
    static func configText(_ dir: String, speaker: String, hall: String = "") -> String {
        """
        [api]
        socket = "\(dir)/halld.sock"
        [storage]
        state_dir = "\(dir)/state"
        [registry]
        retry_initial_seconds = 0.2
        retry_max_seconds = 1
        [[device]]
        id = "display-3"
        kind = "display"
        driver = "simulated"
        [[device]]
        id = "display-4"
        kind = "display"
        driver = "simulated"
        \(speaker)
        [hall]
        speaker = "speaker-1"
        \(hall)
        [[hall.service]]
        code = "A"
        name = "社会保障"
        [[hall.window]]
        number = 3
        display = "display-3"
        [[hall.window]]
        number = 4
        display = "display-4"
        """
    }
}
