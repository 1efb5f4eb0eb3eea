import DeviceKit
import Drivers
import Foundation
import Simulators
import Transports
import WireProtocols

#if canImport(Glibc)
import Glibc
#endif

/// Transactions per second on a pty with a simulated hall-bus evaluator on the far
/// end: through halld's line (its worker thread, the frame decoder, retries and
/// counting, from async code) against a raw write/poll/read loop on the same pty
/// that waits for the same number of answer bytes.
struct SerialBench {
    let seconds: Double
    let rounds: Int

    func run() async throws -> [Row] {
        let dir = NSTemporaryDirectory() + "hall-bench-\(getpid())"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let simulator = FrameBusSimulator()
        simulator.add(.keypad, address: 1)
        let peer = try PtyPeer(path: dir + "/bus") { simulator.respond(to: $0) }
        // The serving thread closes the pty and ends by itself: nothing to wait for here.
        defer { peer.hangUpSoon() }
        let request = HallBus.frame(to: 1, .poll)
        let answerLength = FrameProfile.hallBus.encode(Frame(address: 1, command: 0)).count

        var raw: [Double] = []
        var halld: [Double] = []
        for _ in 0..<rounds {
            // Blocking serial reads: on a thread of their own, not the pool's.
            raw.append(try await onThread { try rawEcho(path: dir + "/bus", request: request, answerLength: answerLength) })
            halld.append(try await throughLine(path: dir + "/bus"))
        }
        let (b, h) = (median(raw), median(halld))
        return [
            Row(
                name: "serial: hall-bus poll transactions on a pty", unit: "tx/s", baseline: b, halld: h, higherIsBetter: true,
                target: "report (issue 3)", met: true,
                note: "baseline: raw write + poll(2) + read of the answer's bytes on the same pty and peer; halld: FrameLink.send through SerialLine (worker thread, frame decoder) with gap 0. At 9600 baud on a real bus one transaction takes ~20 ms of wire time, so both are far above what a bus carries.")
        ]
    }

    func rawEcho(path: String, request: [UInt8], answerLength: Int) throws -> Double {
        let port = try SerialPort(path: path, settings: SerialSettings())
        defer { port.close() }
        let start = ContinuousClock.now
        let limit = Duration.milliseconds(Int(seconds * 1000))
        var count = 0
        while ContinuousClock.now - start < limit {
            try port.write(request)
            var got = 0
            while got < answerLength {
                guard case .bytes(let b) = try port.read(timeout: .seconds(1)) else { throw BenchError("raw echo: no answer") }
                got += b.count
            }
            count += 1
        }
        return Double(count) / seconds(ContinuousClock.now - start)
    }

    func throughLine(path: String) async throws -> Double {
        let line = SerialLine(path: path, settings: SerialSettings(), gap: .zero)
        try await line.open()
        defer { Task { await line.close() } }
        let link = FrameLink(line: line, address: 1, timeout: .seconds(1), retries: 0)
        let start = ContinuousClock.now
        let limit = Duration.milliseconds(Int(seconds * 1000))
        var count = 0
        while ContinuousClock.now - start < limit {
            _ = try await link.send(HallBus.HostCommand.poll.rawValue, context: nil)
            count += 1
        }
        return Double(count) / seconds(ContinuousClock.now - start)
    }

    func seconds(_ d: Duration) -> Double { Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18 }
}

struct BenchError: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}
