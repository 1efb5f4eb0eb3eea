import ChildProcess
import DeviceKit
import Foundation
import HallAPIModels
import HallClient
import HallConfiguration
import WireProtocols

#if canImport(Glibc)
import Glibc
#endif

/// A call said aloud: from the answer of `POST /v1/windows/1/call-next` to the first
/// sample of the chime written through ALSA (the `file` plugin over `null`, so the
/// moment is the file growing), against `aplay` of the same chime to the same kind of
/// PCM (from exec to its first sample).
struct VoiceBench {
    let rounds: Int
    let samples = 40

    func run() async throws -> [Row] {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/aplay") else { throw BenchError("/usr/bin/aplay is missing (alsa-utils)") }
        let dir = NSTemporaryDirectory() + "hall-bench-voice-\(getpid())"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try WAV.encode(PCMAudio.chime()).write(to: URL(fileURLWithPath: dir + "/chime.wav"))
        let text = """
            [api]
            socket = "\(dir)/halld.sock"
            [storage]
            state_dir = "\(dir)/state"
            [[device]]
            id = "display-1"
            kind = "display"
            driver = "simulated"
            [[device]]
            id = "speaker-1"
            kind = "speaker"
            driver = "alsa"
            pcm = "file:'\(dir)/halld.raw',raw"
            voice = "espeak-ng"
            repeat = 1
            [hall]
            speaker = "speaker-1"
            [[hall.service]]
            code = "A"
            [[hall.window]]
            number = 1
            display = "display-1"
            """
        var config = try HallConfig.parse(text, file: dir + "/halld.toml")
        config.logLevel = "critical"
        let daemon = await BenchDaemon.start(config)
        do {
            let rows = try await measure(dir: dir, client: daemon.client)
            await daemon.stop()
            return rows
        } catch {
            await daemon.stop()
            throw error
        }
    }

    private func measure(dir: String, client: HallClient) async throws -> [Row] {
        let _: HallWindow = try await client.call("PUT", "/v1/windows/1/status", json: WindowStatusRequest(state: .open))
        var halld: [Double] = [], aplay: [Double] = []
        for i in 0..<samples {
            // aplay: from exec to the first sample in its file.
            let base = dir + "/aplay-\(i).raw"
            let start = ContinuousClock.now
            let child = try await Child.start(["/usr/bin/aplay", "-q", "-D", "file:'\(base)',raw", dir + "/chime.wav"])
            aplay.append(try await Self.grows(base, beyond: 0, since: start))
            _ = await child.waitForExit(within: .seconds(10))
            // halld: a citizen's ticket called, from the answer to the first sample.
            if i > 0 { _ = try await client.send("POST", "/v1/windows/1/complete") }
            let _: Ticket = try await client.call("POST", "/v1/tickets", json: IssueRequest(service: "A"))
            let before = Self.size(dir + "/halld.raw")
            let r = try await client.send("POST", "/v1/windows/1/call-next")
            let answered = ContinuousClock.now
            guard r.status == 200 else { throw BenchError("call-next: \(r.status) \(r.text)") }
            halld.append(try await Self.grows(dir + "/halld.raw", beyond: before, since: answered))
            // The next call starts with an empty queue.
            for _ in 0..<400 {
                let q: AnnouncementQueue = try await client.call("GET", "/v1/speakers/speaker-1/announcements")
                if q.playing == nil && q.queued.isEmpty { break }
                try await Task.sleep(for: .milliseconds(10))
            }
        }
        func p(_ xs: [Double], _ q: Double) -> Double { xs.sorted()[min(xs.count - 1, Int(Double(xs.count) * q))] }
        let (h50, h99, a50, a99) = (p(halld, 0.5), p(halld, 0.99), p(aplay, 0.5), p(aplay, 0.99))
        return [
            Row(
                name: "call said: call-next answered → first sample of the chime (ALSA file PCM), p50", unit: "ms", baseline: a50, halld: h50, higherIsBetter: false,
                target: "< 50 ms", met: h50 < 50, note: "baseline: aplay of the same chime, exec to first sample; \(halld.count) calls, p99 \(String(format: "%.2f", h99)) ms (aplay \(String(format: "%.2f", a99)) ms)"),
            Row(
                name: "call said: call-next answered → first sample, p99", unit: "ms", baseline: a99, halld: h99, higherIsBetter: false, target: "< 100 ms", met: h99 < 100),
        ]
    }

    static func size(_ path: String) -> Int {
        var st = stat()
        return stat(path, &st) == 0 ? Int(st.st_size) : 0
    }

    /// Milliseconds from `since` until `path` is larger than `beyond` bytes, watched on
    /// a thread of its own every 50 µs (a benchmark's watch, not the daemon's).
    static func grows(_ path: String, beyond: Int, since: ContinuousClock.Instant) async throws -> Double {
        try await onThread {
            let deadline = since + .seconds(5)
            while ContinuousClock.now < deadline {
                if size(path) > beyond {
                    let d = ContinuousClock.now - since
                    return Double(d.components.seconds) * 1000 + Double(d.components.attoseconds) / 1e15
                }
                usleep(50)
            }
            throw BenchError("\(path) did not grow within 5 s")
        }
    }
}
