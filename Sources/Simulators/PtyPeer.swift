import Foundation
import Synchronization
import DeviceKit
import WireProtocols

#if canImport(Glibc)
import Glibc
#endif

/// A pseudo-terminal with a simulated device on the far end: the daemon opens
/// `path` (a symlink, as udev would make) like any serial port. It can hang up
/// (the adapter pulled) and come back on a new pty behind the same symlink.
public final class PtyPeer: Sendable {
    public let path: String
    /// The pty's descriptors belong to the serving thread: only it closes them, so
    /// no descriptor number is closed twice or read after another part of the
    /// process got it again.
    private struct State {
        var master: Int32 = -1
        var running = false
        var generation = 0
        var done: Done?
    }

    /// The serving thread's end, seen by a blocking caller (a program's main thread)
    /// or by a task (which must not block the cooperative pool).
    private struct Done: Sendable {
        let semaphore = DispatchSemaphore(value: 0)
        let ended = OneShot<Void>()
        func signal() {
            semaphore.signal()
            ended.fulfill(())
        }
    }

    private let state = Mutex(State())
    /// Answers for the bytes that arrive; a fresh one for each plugged pty.
    private let makeResponder: @Sendable () -> (inout [UInt8]) -> [[UInt8]]

    /// Creates the pty, points `path` at it, and answers frames of `profile` with `respond`.
    public convenience init(path: String, profile: FrameProfile = .hallBus, respond: @escaping @Sendable (Frame) -> [UInt8]?) throws {
        try self.init(path: path) {
            var decoder = FrameDecoder(profile: profile)
            return { bytes in
                var answers: [[UInt8]] = []
                for case .message(let frame) in decoder.feed(bytes) {
                    if let answer = respond(frame) { answers.append(answer) }
                }
                return answers
            }
        }
    }

    /// Creates the pty, points `path` at it, and answers whatever protocol
    /// `makeResponder`'s handler decodes (it is given each chunk read, and returns answers to write).
    public init(path: String, makeResponder: @escaping @Sendable () -> (inout [UInt8]) -> [[UInt8]]) throws {
        self.path = path
        self.makeResponder = makeResponder
        try plug()
    }

    deinit { hangUpSoon() }

    /// The pty the symlink points at now.
    public var devicePath: String? { try? FileManager.default.destinationOfSymbolicLink(atPath: path) }

    /// Creates a new pty behind the symlink and starts answering on it.
    public func plug() throws {
        var master: Int32 = -1, slave: Int32 = -1
        guard openpty(&master, &slave, nil, nil, nil) == 0 else { throw PtyError("openpty: \(String(cString: strerror(errno)))") }
        // Programs this process starts must not hold the pty open after a hang-up.
        _ = fcntl(master, F_SETFD, FD_CLOEXEC)
        _ = fcntl(slave, F_SETFD, FD_CLOEXEC)
        var t = termios()
        tcgetattr(slave, &t)
        cfmakeraw(&t)
        tcsetattr(slave, TCSANOW, &t)
        // ttyname_r: tests open ptys from several threads at once.
        var nameBuffer = [CChar](repeating: 0, count: 128)
        guard ttyname_r(slave, &nameBuffer, nameBuffer.count) == 0 else { throw PtyError("ttyname_r: \(String(cString: strerror(errno)))") }
        let name = String(cString: nameBuffer)
        unlink(path)
        guard symlink(name, path) == 0 else { throw PtyError("symlink \(path) -> \(name): \(String(cString: strerror(errno)))") }
        let done = Done()
        let generation = state.withLock { s in
            s = State(master: master, running: true, generation: s.generation + 1, done: done)
            return s.generation
        }
        let (m, sl) = (master, slave)
        let thread = Thread { [self] in
            serve(master: m, generation: generation)
            state.withLock { s in
                close(m)
                close(sl)
                if s.generation == generation { s.master = -1 }
            }
            done.signal()
        }
        thread.name = "pty peer \(path)"
        thread.start()
    }

    /// Closes the pty: the daemon's next read or write sees the line hang up.
    /// Returns once the descriptors are closed (or after 2 s). For tasks: it suspends,
    /// never blocks a thread of the cooperative pool.
    public func hangUp() async {
        guard let done = takeDone() else { return }
        _ = try? await withDeadline(.seconds(2), clock: ContinuousClock()) { try await done.ended.wait() }
    }

    /// `hangUp` for a program's own thread (hall-sim's command loop): it blocks that thread.
    public func hangUpBlocking() {
        _ = takeDone()?.semaphore.wait(timeout: .now() + 2)
    }

    /// Tells the serving thread to close the pty, without waiting for it.
    public func hangUpSoon() { _ = takeDone() }

    private func takeDone() -> Done? {
        state.withLock { s -> Done? in
            s.running = false
            defer { s.done = nil }
            return s.done
        }
    }

    /// Writes bytes onto the line as the device would (noise, unsolicited frames).
    public func send(_ bytes: [UInt8]) {
        state.withLock { s in
            guard s.master >= 0 else { return }
            _ = bytes.withUnsafeBytes { write(s.master, $0.baseAddress, $0.count) }
        }
    }

    private func serve(master: Int32, generation: Int) {
        let respond = makeResponder()
        var buffer = [UInt8](repeating: 0, count: 512)
        while state.withLock({ $0.running && $0.generation == generation }) {
            var p = pollfd(fd: master, events: Int16(POLLIN), revents: 0)
            let rc = poll(&p, 1, 20)
            if rc <= 0 { continue }
            let n = read(master, &buffer, buffer.count)
            if n <= 0 {
                // Nobody has the device open (EIO).
                usleep(5_000)
                continue
            }
            var chunk = Array(buffer[0..<n])
            for answer in respond(&chunk) {
                _ = answer.withUnsafeBytes { write(master, $0.baseAddress, $0.count) }
            }
        }
    }
}

public struct PtyError: Error, CustomStringConvertible {
    public var description: String
    init(_ d: String) { description = d }
}
