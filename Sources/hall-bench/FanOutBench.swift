import Foundation
import HallConfiguration
import HallAPIModels
import HallDaemon
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// One device event delivered to 100 SSE subscribers: from the API request that
/// changes the device's state (a fault injected into a simulated display) to the
/// moment the last subscriber has read the `device.status` event.
struct FanOutBench {
    let subscribers = 100
    let rounds = 200
    /// Rounds first run and not counted, in halld and the baseline alike: two of each
    /// state change, whose first run takes code and data in for the first time (its
    /// time is in the note).
    let warmUp = 4

    func run() async throws -> [Row] {
        let dir = NSTemporaryDirectory() + "hall-bench-fanout-\(getpid())"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var config = HallConfig()
        config.socket = dir + "/halld.sock"
        config.stateDir = dir + "/state"
        config.logLevel = "critical"
        config.subscriberBuffer = 1024
        config.devices = try HallConfig.parse("[[device]]\nid = \"display-1\"\nkind = \"display\"\ndriver = \"simulated\"\n", file: "bench.toml").devices
        let daemon = await BenchDaemon.start(config)
        defer { Task { await daemon.stop() } }

        // Each subscriber's receive times of device.status events, in order.
        let received = (0..<subscribers).map { _ in Inbox() }
        let connections = try (0..<subscribers).map { _ in try ApiBench.Conn(config.socket) }
        let stop = Atomic<Bool>(false)
        for (i, c) in connections.enumerated() {
            c.send(Array("GET /v1/events?types=device.status HTTP/1.1\r\nHost: x\r\n\r\n".utf8))
            Thread {
                // The events are counted in the bytes as they come: the
                // readers share the cores with halld, so they do as little as the
                // baseline's readers (a Foundation string search here took a fifth of
                // the run's CPU).
                let marker = Array("event: device.status\n".utf8)
                var pending: [UInt8] = []
                var buffer = [UInt8](repeating: 0, count: 65536)
                var tv = timeval(tv_sec: 0, tv_usec: 200_000)
                setsockopt(c.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
                while !stop.load(ordering: .relaxed) {
                    let n = recv(c.fd, &buffer, buffer.count, 0)
                    if n <= 0 { continue }
                    let now = ContinuousClock.now
                    pending += buffer[0..<n]
                    let (found, consumed) = Self.count(marker, in: pending)
                    if found > 0 { received[i].add(now, times: found) }
                    pending.removeFirst(consumed)
                }
            }.start()
        }
        try await Task.sleep(for: .milliseconds(300))
        // The request is sent and the subscribers awaited from a thread of this
        // benchmark's own, as in the baseline: polling from the cooperative pool would
        // take the in-process daemon's threads.
        let socket = config.socket
        let halld = try await onThread {
            let c = try ApiBench.Conn(socket)
            return try Self.measure(rounds: rounds, warmUp: warmUp, received: received) { round in
                let fault = round % 2 == 0 ? "timeout" : "clear"
                guard c.request("POST", "/v1/devices/display-1/faults", json: #"{"fault":"\#(fault)"}"#)?.status == 200 else {
                    throw BenchError("round \(round): the fault request failed")
                }
            }
        }
        stop.store(true, ordering: .relaxed)
        let raw = try await onThread { try rawFanOut() }
        let note = "\(subscribers) SSE subscribers on their own connections and threads; \(rounds) state changes 2 ms apart (a fault injected into a simulated display, then cleared; p99 is the third slowest), after \(warmUp) not counted (the very first took \(String(format: "%.2f", halld.cold)) ms, the baseline's \(String(format: "%.2f", raw.cold)) ms); the time runs from sending the API request that changes the state (so it includes that request's handling, on a connection kept open: the POST, the device's state, the event stored in the log, a device.status, written to the WAL without a sync of its own, as a device's state is; a ticket's or a rating's event waits for the disk, 0.2–1 ms more here) to the last subscriber reading the event (the first subscriber read it after \(String(format: "%.2f", halld.firstP50)) ms, p50: the request and the event stored; the rest is the fan-out). Baseline: the same \(subscribers) reader threads on Unix socket pairs, one thread writing a 300-byte message to each in turn, from the first write to the last reader's read: what this machine takes to wake \(subscribers) readers."
        return [
            Row(name: "event fan-out to 100 subscribers, p50", unit: "ms", baseline: raw.p50, halld: halld.p50, higherIsBetter: false, target: "report", met: true, note: note),
            Row(name: "event fan-out to 100 subscribers, p99", unit: "ms", baseline: raw.p99, halld: halld.p99, higherIsBetter: false, target: "under 2 ms", met: halld.p99 < 2),
        ]
    }

    /// One reader's receive times, in order: a lock of its own, so that 100 readers
    /// do not wait for each other on the cores they share with what they measure; the
    /// count is read without a lock by the waiting round.
    final class Inbox: Sendable {
        private let times = Mutex<[ContinuousClock.Instant]>([])
        private let received = Atomic<Int>(0)

        func add(_ instant: ContinuousClock.Instant, times n: Int) {
            times.withLock { for _ in 0..<n { $0.append(instant) } }
            received.add(n, ordering: .releasing)
        }

        var count: Int { received.load(ordering: .acquiring) }

        func time(_ round: Int) -> ContinuousClock.Instant? { times.withLock { round < $0.count ? $0[round] : nil } }
    }

    /// Runs `warmUp` and then `rounds` rounds of `send`, each until every subscriber has
    /// its event (`received[i].count > round`): p50 and p99 (ms) from the send to the last
    /// receipt of the counted rounds, and the time of the very first round (`cold`).
    /// It waits by sleeping 50 µs at a time: call it on a thread of its own (`onThread`),
    /// never on the cooperative pool, which the in-process daemon runs on.
    static func measure(rounds: Int, warmUp: Int, received: [Inbox], send: (Int) throws -> Void) throws -> (p50: Double, p99: Double, firstP50: Double, cold: Double) {
        var latencies: [Double] = []
        var firsts: [Double] = []
        var cold = 0.0
        for round in 0..<(warmUp + rounds) {
            let t0 = ContinuousClock.now
            try send(round)
            let deadline = ContinuousClock.now + .seconds(5)
            while received.contains(where: { $0.count <= round }) && ContinuousClock.now < deadline { usleep(50) }
            let times = received.compactMap { $0.time(round) }
            guard times.count == received.count, let last = times.max() else {
                throw BenchError("round \(round): \(received.count - times.count) of \(received.count) subscribers did not get the event within 5 s")
            }
            let d = last - t0
            let f = times.min()! - t0
            usleep(2_000)
            if round == 0 { cold = Double(d.components.seconds) * 1000 + Double(d.components.attoseconds) / 1e15 }
            guard round >= warmUp else { continue }
            latencies.append(Double(d.components.seconds) * 1000 + Double(d.components.attoseconds) / 1e15)
            firsts.append(Double(f.components.seconds) * 1000 + Double(f.components.attoseconds) / 1e15)
        }
        latencies.sort()
        return (latencies[latencies.count / 2], latencies[Int(Double(latencies.count - 1) * 0.99)], median(firsts), cold)
    }

    /// How often `marker` occurs in `bytes`, and how many bytes from the start can be
    /// dropped (all but a tail that could begin the next marker).
    static func count(_ marker: [UInt8], in bytes: [UInt8]) -> (found: Int, consumed: Int) {
        var found = 0
        var offset = 0
        var i = 0
        while i + marker.count <= bytes.count {
            if bytes[i] == marker[0] && bytes[i..<(i + marker.count)].elementsEqual(marker) {
                found += 1
                i += marker.count
                offset = i
            } else {
                i += 1
            }
        }
        return (found, max(offset, bytes.count - (marker.count - 1)))
    }

    /// The baseline: 100 reader threads on socket pairs, one writer. Blocking: call it
    /// on a thread of its own (`onThread`).
    func rawFanOut() throws -> (p50: Double, p99: Double, firstP50: Double, cold: Double) {
        var pairs: [(writer: Int32, reader: Int32)] = []
        defer { for p in pairs { close(p.writer); close(p.reader) } }
        for _ in 0..<subscribers {
            var fds: [Int32] = [0, 0]
            guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &fds) == 0 else { throw BenchError("socketpair: \(String(cString: strerror(errno)))") }
            pairs.append((fds[0], fds[1]))
        }
        let message = [UInt8](repeating: 0x65, count: 300)
        let received = (0..<subscribers).map { _ in Inbox() }
        let stop = Atomic<Bool>(false)
        let readers = DispatchGroup()
        for (i, p) in pairs.enumerated() {
            readers.enter()
            Thread {
                var buffer = [UInt8](repeating: 0, count: 65536)
                var tv = timeval(tv_sec: 0, tv_usec: 200_000)
                setsockopt(p.reader, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
                var bytes = 0
                while !stop.load(ordering: .relaxed) {
                    let n = recv(p.reader, &buffer, buffer.count, 0)
                    if n <= 0 { continue }
                    let now = ContinuousClock.now
                    bytes += n
                    let whole = bytes / message.count - received[i].count
                    if whole > 0 { received[i].add(now, times: whole) }
                }
                readers.leave()
            }.start()
        }
        usleep(300_000)
        let result = try Self.measure(rounds: rounds, warmUp: warmUp, received: received) { _ in
            for p in pairs { _ = message.withUnsafeBytes { send(p.writer, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) } }
        }
        stop.store(true, ordering: .relaxed)
        readers.wait()
        return result
    }
}
