import ChildProcess
import UnixSockets
import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// API round trips over the Unix socket with keep-alive against a 100-byte echo
/// between two processes (socat running cat), start-up time and resident memory
/// of a halld process with four simulated devices.
struct ApiBench {
    let seconds: Double
    let halld: String

    final class Conn: @unchecked Sendable {
        // @unchecked: each connection is used by one thread at a time.
        let fd: Int32
        init(_ path: String) throws {
            do { fd = try UnixSocket.connect(to: path) } catch { throw BenchError("\(error)") }
        }
        /// A connection a server accepted (`readResponse` reads a request as well: a head
        /// and a body of its Content-Length).
        init(accepted fd: Int32) { self.fd = fd }
        deinit { close(fd) }
        func send(_ bytes: [UInt8]) { _ = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) } }
        /// Bytes received and not yet consumed: the connection reads in pieces of up
        /// to 64 KiB, as an HTTP client does (reading a response's head byte by byte
        /// cost the client a system call per byte, on the cores halld shares).
        private var pending: [UInt8] = []
        private var consumed = 0

        private var piece = [UInt8](repeating: 0, count: 65_536)

        /// Receives the next piece into `pending`; false when the connection ended.
        private func fill() -> Bool {
            if consumed > 0 {
                pending.removeFirst(consumed)
                consumed = 0
            }
            let r = piece.withUnsafeMutableBytes { recv(fd, $0.baseAddress!, $0.count, 0) }
            guard r > 0 else { return false }
            pending.append(contentsOf: piece[0..<r])
            return true
        }
        /// Reads exactly n bytes; nil when the connection ends first.
        func readExactly(_ n: Int) -> [UInt8]? {
            while pending.count - consumed < n {
                if !fill() { return nil }
            }
            defer { consumed += n }
            return Array(pending[consumed..<consumed + n])
        }
        func read(_ n: Int) -> Bool { readExactly(n) != nil }
        /// Sends a request and reads its answer: the status and body, nil when the
        /// connection failed.
        func request(_ method: String, _ path: String, json: String? = nil) -> (status: Int, body: [UInt8])? {
            var text = "\(method) \(path) HTTP/1.1\r\nHost: halld\r\n"
            if let json { text += "Content-Type: application/json\r\nContent-Length: \(json.utf8.count)\r\n\r\n\(json)" } else { text += "Content-Length: 0\r\n\r\n" }
            send(Array(text.utf8))
            return readResponse()
        }
        /// One HTTP response: status and Content-Length body.
        func readResponse() -> (status: Int, body: [UInt8])? {
            // The head ends at the first CR LF CR LF; `scanned` bytes after `consumed`
            // were searched already (fill moves the bytes, not their offset from `consumed`).
            var scanned = 0
            var end: Int?
            while end == nil {
                var i = consumed + max(0, scanned - 3)
                while i + 4 <= pending.count {
                    if pending[i] == 13 && pending[i + 1] == 10 && pending[i + 2] == 13 && pending[i + 3] == 10 {
                        end = i + 4
                        break
                    }
                    i += 1
                }
                scanned = pending.count - consumed
                if end == nil && !fill() { return nil }
            }
            // Read in the bytes, not through Strings: this client shares the two cores
            // with halld, and splitting each head into lowercased lines was 4% of a
            // POST /v1/tickets run's CPU (the echo baseline's client parses nothing).
            let head = pending[consumed..<end!]
            consumed = end!
            let status = Self.number(in: head, after: head.firstIndex(of: UInt8(ascii: " ")).map { $0 + 1 }) ?? 0
            guard let length = Self.number(in: head, after: Self.valueStart(of: "content-length:", in: head)) else { return (status, []) }
            return readExactly(length).map { (status, $0) }
        }

        /// Where the value of header `name` (lower case, with its colon) starts in `head`.
        static func valueStart(of name: StaticString, in head: ArraySlice<UInt8>) -> Int? {
            let key = UnsafeBufferPointer(start: name.utf8Start, count: name.utf8CodeUnitCount)
            var line = head.startIndex
            while line + key.count <= head.endIndex {
                if zip(head[line..<(line + key.count)], key).allSatisfy({ ($0 | 0x20) == $1 }) { return line + key.count }
                guard let lf = head[line...].firstIndex(of: 10) else { return nil }
                line = lf + 1
            }
            return nil
        }

        /// The decimal number at `start` in `bytes`, after spaces.
        static func number(in bytes: ArraySlice<UInt8>, after start: Int?) -> Int? {
            guard var i = start else { return nil }
            while i < bytes.endIndex, bytes[i] == 32 { i += 1 }
            var value = 0
            let first = i
            while i < bytes.endIndex, bytes[i] >= 48, bytes[i] <= 57 {
                value = value * 10 + Int(bytes[i] - 48)
                i += 1
            }
            return i > first ? value : nil
        }
        /// Reads whatever arrives next (up to 64 KiB); empty when the peer closed.
        func readSome() -> [UInt8] {
            if pending.count == consumed && !fill() { return [] }
            defer { (pending, consumed) = ([], 0) }
            return Array(pending[consumed...])
        }
        /// Reads one HTTP response (headers, then Content-Length bytes).
        func readHTTP() -> Bool { readResponse() != nil }
    }

    static func rssMiB(_ pid: Int32) -> Double {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
            let kb = Double(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "")
        else { return 0 }
        return kb / 1024
    }

    /// Drops a file's pages from the page cache (no process may have it mapped), as a
    /// reboot would.
    static func evictFromPageCache(_ path: String) {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { return }
        _ = posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED)
        close(fd)
    }

    /// What a process's resident set is made of (MiB), from /proc/PID/smaps: anonymous
    /// memory (heaps, stacks), and pages of mapped files: the program's own file, the
    /// Swift runtime and Foundation, and the other shared libraries (how many).
    static func rssParts(_ pid: Int32) -> (anonymous: Double, program: Double, swift: Double, otherLibraries: Double, libraries: Int) {
        // Read to the end in pieces: a /proc file has no size, and Foundation's reading by
        // size stops short of the whole of a large one.
        guard let smaps = (try? FileHandle(forReadingFrom: URL(fileURLWithPath: "/proc/\(pid)/smaps")).readToEnd()).flatMap({ $0 }).map({ String(decoding: $0, as: UTF8.self) }),
            let exe = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/exe")
        else { return (0, 0, 0, 0, 0) }
        var (anonymous, program, swift, other) = (0.0, 0.0, 0.0, 0.0)
        var libraries = Set<String>()
        var path = ""
        for line in smaps.split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            if let first = fields.first, first.contains("-"), first.allSatisfy({ $0.isHexDigit || $0 == "-" }) {
                path = fields.count >= 6 ? String(fields[5]) : ""
            } else if fields.first == "Rss:", fields.count >= 2, let kb = Double(fields[1]) {
                let mib = kb / 1024
                if path == exe {
                    program += mib
                } else if path.hasPrefix("/"), path.contains(".so") {
                    if path.contains("/swift/") { swift += mib } else { other += mib; libraries.insert(path) }
                } else {
                    anonymous += mib
                }
            }
        }
        return (anonymous, program, swift, other, libraries.count)
    }

    /// CPU time (user and system) the process has used, in seconds.
    static func cpuSeconds(_ pid: Int32) -> Double {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8), let close = stat.lastIndex(of: ")") else { return 0 }
        // After the command's closing parenthesis: state is field 3, utime 14, stime 15.
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else { return 0 }
        return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    /// Latencies (ms) of sequential round trips, and throughput for `clients` connections.
    func measure(path: String, request: [UInt8], reply: @escaping @Sendable (Conn) -> Bool) throws -> (p50: Double, p99: Double, rps: [Int: Double]) {
        let (p50, p99) = try latencies(path: path, request: request, reply: reply)
        var rps: [Int: Double] = [:]
        for clients in [1, 16, 64] {
            let total = Atomic<Int>(0)
            let conns = try (0..<clients).map { _ in try Conn(path) }
            let end = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
            let done = DispatchGroup()
            for conn in conns {
                done.enter()
                Thread {
                    var n = 0
                    while ContinuousClock.now < end {
                        conn.send(request)
                        guard reply(conn) else { break }
                        n += 1
                    }
                    total.add(n, ordering: .relaxed)
                    done.leave()
                }.start()
            }
            done.wait()
            rps[clients] = Double(total.load(ordering: .relaxed)) / seconds
        }
        return (p50, p99, rps)
    }

    /// p50 and p99 (ms) of one client's sequential round trips for `seconds`.
    func latencies(path: String, request: [UInt8], reply: @escaping @Sendable (Conn) -> Bool) throws -> (p50: Double, p99: Double) {
        let c = try Conn(path)
        var times: [Double] = []
        let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
        while ContinuousClock.now < deadline {
            let t = ContinuousClock.now
            c.send(request)
            guard reply(c) else { throw BenchError("no answer from \(path)") }
            let d = ContinuousClock.now - t
            times.append(Double(d.components.attoseconds) / 1e15 + Double(d.components.seconds) * 1000)
        }
        times.sort()
        return (times[times.count / 2], times[min(times.count - 1, Int(Double(times.count) * 0.99))])
    }

    func run() async throws -> [Row] {
        let dir = NSTemporaryDirectory() + "hall-bench-api-\(getpid())"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // Baseline: socat hands each connection to cat, which echoes.
        let echo = try await Child.start(["/usr/bin/socat", "UNIX-LISTEN:\(dir)/echo.sock,fork", "EXEC:/bin/cat"])
        for _ in 0..<200 where !FileManager.default.fileExists(atPath: dir + "/echo.sock") { try await Task.sleep(for: .milliseconds(10)) }
        let payload = [UInt8](repeating: 0x61, count: 100)
        // The measurements block on sockets: on threads of their own, never the pool's.
        var base: (p50: Double, p99: Double, rps: [Int: Double])
        do {
            base = try await onThread { try measure(path: dir + "/echo.sock", request: payload) { $0.read(100) } }
        } catch {
            await echo.stop(signal: SIGKILL)
            throw error
        }

        // halld with four simulated devices: start-up to /v1/health, memory idle and after load.
        let config = """
            [api]
            socket = "\(dir)/halld.sock"
            [storage]
            state_dir = "\(dir)/state"
            [log]
            level = "critical"
            [[device]]
            id = "scanner-1"
            kind = "scanner"
            driver = "simulated"
            [[device]]
            id = "ticket-printer"
            kind = "printer"
            driver = "simulated"
            [[device]]
            id = "keypad-1"
            kind = "keypad"
            driver = "simulated"
            [[device]]
            id = "display-1"
            kind = "display"
            driver = "simulated"
            [hall]
            name = "bench"
            [[hall.service]]
            code = "A"
            name = "社会保障"
            [[hall.window]]
            number = 1
            display = "display-1"
            keypad = "keypad-1"
            """
        try config.write(toFile: dir + "/halld.toml", atomically: true, encoding: .utf8)
        var startups: [Double] = []
        var daemon: Child?
        for i in 0..<3 {
            // The halld kept (the last) starts as at boot: its program out of the page
            // cache, so the code it maps is what its own start-up reads, not the large
            // folios the linker or an earlier run left (1 to 4 MiB more, measured). On a
            // thread of its own: dropping 180 MB of pages is a blocking call.
            if i == 2 { try await onThread { Self.evictFromPageCache(halld) } }
            let t = ContinuousClock.now
            let p = try await Child.start([halld, "--config", dir + "/halld.toml"])
            var up = false
            while !up && ContinuousClock.now - t < .seconds(10) {
                if let c = try? Conn(dir + "/halld.sock") {
                    c.send(Array("GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\n".utf8))
                    up = c.readHTTP()
                }
                if !up { try await Task.sleep(for: .microseconds(500)) }
            }
            guard up else {
                await p.stop(signal: SIGKILL)
                await echo.stop(signal: SIGKILL)
                throw BenchError("halld did not answer /v1/health: \(p.output.suffix(500))")
            }
            let d = ContinuousClock.now - t
            startups.append(Double(d.components.seconds) * 1000 + Double(d.components.attoseconds) / 1e15)
            if i < 2 {
                await p.stop()
            } else {
                daemon = p
            }
        }
        guard let daemon else {
            await echo.stop(signal: SIGKILL)
            throw BenchError("no daemon")
        }
        try await Task.sleep(for: .milliseconds(500))
        let idle = Self.rssMiB(daemon.pid)
        let parts = Self.rssParts(daemon.pid)
        // Idle CPU: nothing asks halld anything for ten seconds.
        let cpu0 = Self.cpuSeconds(daemon.pid)
        try await Task.sleep(for: .seconds(10))
        let idleCPU = (Self.cpuSeconds(daemon.pid) - cpu0) / 10 * 100
        let get = Array("GET /v1/devices HTTP/1.1\r\nHost: x\r\n\r\n".utf8)
        let hallGet = Array("GET /v1/hall HTTP/1.1\r\nHost: x\r\n\r\n".utf8)
        var ours: (p50: Double, p99: Double, rps: [Int: Double]), hall: (p50: Double, p99: Double, rps: [Int: Double])
        do {
            ours = try await onThread { try measure(path: dir + "/halld.sock", request: get) { $0.readHTTP() } }
            hall = try await onThread { try measure(path: dir + "/halld.sock", request: hallGet) { $0.readHTTP() } }
            // The one-client round trips again, baseline and halld in turn, `rounds` times in
            // all: the medians, as this machine's speed drifts from one second to the next.
            var rounds = [(base.p50, base.p99, ours.p50, ours.p99, hall.p50, hall.p99)]
            for _ in 1..<3 {
                let b = try await onThread { try latencies(path: dir + "/echo.sock", request: payload) { $0.read(100) } }
                let o = try await onThread { try latencies(path: dir + "/halld.sock", request: get) { $0.readHTTP() } }
                let h = try await onThread { try latencies(path: dir + "/halld.sock", request: hallGet) { $0.readHTTP() } }
                rounds.append((b.p50, b.p99, o.p50, o.p99, h.p50, h.p99))
            }
            (base.p50, base.p99) = (median(rounds.map(\.0)), median(rounds.map(\.1)))
            (ours.p50, ours.p99) = (median(rounds.map(\.2)), median(rounds.map(\.3)))
            (hall.p50, hall.p99) = (median(rounds.map(\.4)), median(rounds.map(\.5)))
        } catch {
            await daemon.stop()
            await echo.stop(signal: SIGKILL)
            throw error
        }
        await echo.stop(signal: SIGKILL)
        let loaded = Self.rssMiB(daemon.pid)
        await daemon.stop()
        let startup = median(startups)

        let note = "baseline: 100 bytes written and read back over a Unix socket to socat running cat (two processes); halld: GET /v1/devices (four simulated devices, ~1 KB JSON) and GET /v1/hall (one service, one window) over the Unix socket with keep-alive; one client for latency (three rounds, the baseline and halld in turn: medians), 1/16/64 connections on threads for throughput."
        var rows = [
            Row(name: "API round trip p50, 1 client", unit: "ms", baseline: base.p50, halld: ours.p50, higherIsBetter: false, target: "within 2x (ratio ≤ 2)", met: ours.p50 / base.p50 <= 2, note: note),
            Row(name: "API round trip p99, 1 client", unit: "ms", baseline: base.p99, halld: ours.p99, higherIsBetter: false, target: "within 4x (ratio ≤ 4)", met: ours.p99 / base.p99 <= 4),
        ]
        for n in [1, 16, 64] {
            rows.append(Row(name: "API requests/s, \(n) client\(n == 1 ? "" : "s")", unit: "req/s", baseline: base.rps[n] ?? 0, halld: ours.rps[n] ?? 0, higherIsBetter: true, target: "report", met: true))
        }
        rows.append(Row(name: "GET /v1/hall round trip p50, 1 client", unit: "ms", baseline: base.p50, halld: hall.p50, higherIsBetter: false, target: "within 2x (ratio ≤ 2)", met: hall.p50 / base.p50 <= 2))
        rows.append(Row(name: "GET /v1/hall round trip p99, 1 client", unit: "ms", baseline: base.p99, halld: hall.p99, higherIsBetter: false, target: "within 4x (ratio ≤ 4)", met: hall.p99 / base.p99 <= 4))
        for n in [1, 16, 64] {
            rows.append(Row(name: "GET /v1/hall requests/s, \(n) client\(n == 1 ? "" : "s")", unit: "req/s", baseline: base.rps[n] ?? 0, halld: hall.rps[n] ?? 0, higherIsBetter: true, target: "report", met: true))
        }
        rows.append(
            Row(name: "start-up: exec to /v1/health answering, 4 simulated devices", unit: "ms", baseline: 150, halld: startup, higherIsBetter: false,
                target: "under 150 ms (baseline column is the target)", met: startup < 150, note: "median of 3 starts; the baseline column holds the 150 ms target, not a measurement."))
        rows.append(
            Row(name: "resident memory idle / after the API load", unit: "MiB", baseline: idle, halld: loaded, higherIsBetter: false,
                target: "idle under 25 MiB (baseline column is idle)", met: idle < 25, note: "VmRSS of the halld process: the baseline column is idle, the halld column after the throughput runs; this halld started with its program out of the page cache, as at boot. "
                    + String(
                        format: "Idle, from /proc/PID/smaps: %.1f MiB in anonymous mappings (heaps, stacks); the rest is mapped files, their code and the data the loader wrote: %.1f MiB of the halld program"
                            + (parts.swift > 0.05
                                ? String(format: ", %.1f MiB of the Swift runtime and Foundation (shared libraries)", parts.swift)
                                : " (the Swift runtime and Foundation linked in: --static-swift-stdlib)")
                            + ", %.1f MiB of the other %d shared libraries (libc, libstdc++, SQLite, ALSA, libusb, libturbojpeg and theirs; libcups, SANE and libespeak-ng are opened when a device needs them, and these devices need none). Code pages are shared with the kernel's page cache, which maps them in blocks around each page touched; the code halld runs is laid out together (scripts/halld.order).",
                        parts.anonymous, parts.program, parts.otherLibraries, parts.libraries)))
        rows.append(
            Row(name: "CPU idle, four simulated devices", unit: "% of a core", baseline: 1, halld: idleCPU, higherIsBetter: false,
                target: "near zero: under 1% (baseline column is the target)", met: idleCPU < 1,
                note: "user and system time of the halld process (/proc/PID/stat) over 10 s in which nothing asks it anything, after start-up; the clock tick is 10 ms, so 0.1% is one tick."))
        return rows
    }
}
