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
    let rounds = 60

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
        let received = Mutex<[[ContinuousClock.Instant]]>(Array(repeating: [], count: subscribers))
        let connections = try (0..<subscribers).map { _ in try ApiBench.Conn(config.socket) }
        let stop = Atomic<Bool>(false)
        for (i, c) in connections.enumerated() {
            c.send(Array("GET /v1/events?types=device.status HTTP/1.1\r\nHost: x\r\n\r\n".utf8))
            Thread {
                var pending = ""
                var buffer = [UInt8](repeating: 0, count: 65536)
                var tv = timeval(tv_sec: 0, tv_usec: 200_000)
                setsockopt(c.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
                while !stop.load(ordering: .relaxed) {
                    let n = recv(c.fd, &buffer, buffer.count, 0)
                    if n <= 0 { continue }
                    let now = ContinuousClock.now
                    pending += String(decoding: buffer[0..<n], as: UTF8.self)
                    while let range = pending.range(of: "event: device.status\n") {
                        received.withLock { $0[i].append(now) }
                        pending = String(pending[range.upperBound...])
                    }
                }
            }.start()
        }
        try await Task.sleep(for: .milliseconds(300))
        var latencies: [Double] = []
        for round in 0..<rounds {
            let fault = round % 2 == 0 ? SimulatedFault.timeout : .clear
            let body = try JSONEncoder().encode(FaultRequest(fault: fault))
            let t0 = ContinuousClock.now
            _ = try await daemon.client.send("POST", "/v1/devices/display-1/faults", body: body, contentType: "application/json")
            let deadline = ContinuousClock.now + .seconds(5)
            while received.withLock({ $0.contains { $0.count <= round } }) && ContinuousClock.now < deadline { try await Task.sleep(for: .microseconds(100)) }
            let last = received.withLock { $0.compactMap { $0.count > round ? $0[round] : nil }.max() }
            guard let last, received.withLock({ $0.allSatisfy { $0.count > round } }) else { throw BenchError("round \(round): not every subscriber got the event") }
            let d = last - t0
            latencies.append(Double(d.components.seconds) * 1000 + Double(d.components.attoseconds) / 1e15)
        }
        stop.store(true, ordering: .relaxed)
        latencies.sort()
        let p50 = latencies[latencies.count / 2], p99 = latencies[Int(Double(latencies.count - 1) * 0.99)]
        let note = "\(subscribers) SSE subscribers on their own connections and threads; \(rounds) state changes (a fault injected into a simulated display, then cleared); the time runs from sending the API request that changes the state (so it includes that request's handling) to the last subscriber reading the event. The baseline column holds the 2 ms target."
        return [
            Row(name: "event fan-out to 100 subscribers, p50", unit: "ms", baseline: 2, halld: p50, higherIsBetter: false, target: "report", met: true, note: note),
            Row(name: "event fan-out to 100 subscribers, p99", unit: "ms", baseline: 2, halld: p99, higherIsBetter: false, target: "under 2 ms", met: p99 < 2),
        ]
    }
}
