import Foundation
import Subprocess
import Synchronization
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

// Child processes for the tests and hall-bench, through swift-subprocess: a child's
// end is awaited, never waited for on a thread of the cooperative pool (on two
// cores the pool has two threads), and every wait has a deadline.

public struct ProcessFailure: Error, CustomStringConvertible {
    public let description: String
    public init(_ d: String) { description = d }
}

/// What a finished command left: its exit status (128 + signal when killed) and its
/// standard output and standard error, together.
public typealias CommandResult = (status: Int32, output: String)

/// Runs a program to its end with a deadline; on the deadline it is killed and the
/// call throws, naming the command and what it printed so far.
@discardableResult
public func runCommand(
    _ argv: [String], environment: [String: String] = [:], input: String? = nil, within limit: Duration = .seconds(60)
) async throws -> CommandResult {
    let child = try await Child.start(argv, environment: environment, input: input)
    guard let status = await child.waitForExit(within: limit) else {
        let seen = child.output
        await child.stop(signal: SIGKILL)
        throw ProcessFailure("\(argv.joined(separator: " ")) did not end within \(limit); it printed: \(seen.suffix(2000))")
    }
    return (status, child.output)
}

/// A program the test started, running in the background. Its standard output and
/// standard error (together) are kept in memory, it can be signalled, and it is
/// stopped with a deadline. Its exit is seen through swift-subprocess's monitor.
public final class Child: Sendable {
    public let command: String
    public let pid: pid_t
    private let state: State
    private let task: Task<Void, Never>

    private final class State: Sendable {
        enum Outcome { case ended(Int32?), timedOut }
        struct Inner {
            var output: [UInt8] = []
            var status: Int32?
            var ended = false
            var waiters: [UUID: CheckedContinuation<Outcome, Never>] = [:]
        }
        let inner = Mutex(Inner())

        func append(_ bytes: [UInt8]) { inner.withLock { $0.output += bytes } }

        func end(_ status: Int32?) {
            let waiters = inner.withLock { s -> [CheckedContinuation<Outcome, Never>] in
                s.status = status
                s.ended = true
                defer { s.waiters = [:] }
                return Array(s.waiters.values)
            }
            waiters.forEach { $0.resume(returning: .ended(status)) }
        }

        /// The exit status (nil if it never started), or `.timedOut` when `limit` passed first.
        func wait(within limit: Duration) async -> Outcome {
            let id = UUID()
            return await withCheckedContinuation { c in
                let done: Outcome? = inner.withLock { s in
                    if s.ended { return .ended(s.status) }
                    s.waiters[id] = c
                    return nil
                }
                if let done { return c.resume(returning: done) }
                // The timer starts once the waiter is registered, so it cannot fire before it.
                Task {
                    try? await Task.sleep(for: limit)
                    let waiter = inner.withLock { $0.waiters.removeValue(forKey: id) }
                    waiter?.resume(returning: .timedOut)
                }
            }
        }
    }

    private let input: AsyncStream<String>.Continuation

    private init(command: String, pid: pid_t, state: State, task: Task<Void, Never>, input: AsyncStream<String>.Continuation) {
        self.input = input
        self.command = command
        self.pid = pid
        self.state = state
        self.task = task
    }

    /// Starts `argv` (argv[0] a path) with `environment` added to this process's.
    /// `input`, when given, is written to its standard input, which is then closed.
    /// With `interactive`, standard input stays open for `send` until `closeInput`.
    public static func start(_ argv: [String], environment: [String: String] = [:], input: String? = nil, interactive: Bool = false) async throws -> Child {
        precondition(!argv.isEmpty)
        let (lines, linesFeed) = AsyncStream.makeStream(of: String.self)
        if !interactive { linesFeed.finish() }
        var updates: [Environment.Key: String?] = [:]
        for (k, v) in environment { if let key = Environment.Key(rawValue: k) { updates[key] = v } }
        let state = State()
        let (started, startedFeed) = AsyncStream.makeStream(of: Result<pid_t, any Error>.self)
        let executable = Executable.path(FilePath(argv[0]))
        let arguments = Arguments(Array(argv.dropFirst()))
        let env = Environment.inherit.updating(updates)
        let task = Task {
            do {
                let result = try await run(
                    executable, arguments: arguments, environment: env,
                    input: .inputWriter, output: .sequence, error: .combinedWithOutput
                ) { execution in
                    startedFeed.yield(.success(execution.processIdentifier.value))
                    startedFeed.finish()
                    let writer = execution.standardInputWriter
                    await withTaskGroup(of: Void.self) { group in
                        group.addTask {
                            if let input { _ = try? await writer.write(input) }
                            for await line in lines { _ = try? await writer.write(line) }
                            try? await writer.finish()
                        }
                        group.addTask {
                            do {
                                for try await chunk in execution.standardOutput {
                                    state.append(chunk.withUnsafeBytes { Array($0) })
                                }
                            } catch {
                                // The child ended while a read was under way (its monitor cancels the read).
                            }
                            linesFeed.finish()
                        }
                    }
                }
                switch result.terminationStatus {
                case .exited(let code): state.end(code)
                case .signaled(let signal): state.end(128 + signal)
                }
            } catch {
                startedFeed.yield(.failure(error))
                startedFeed.finish()
                state.append(Array("\(error)".utf8))
                state.end(nil)
            }
        }
        for await outcome in started {
            switch outcome {
            case .success(let pid): return Child(command: argv.joined(separator: " "), pid: pid, state: state, task: task, input: linesFeed)
            case .failure(let error): throw ProcessFailure("cannot start \(argv[0]): \(error)")
            }
        }
        throw ProcessFailure("cannot start \(argv[0])")
    }

    /// Everything it printed so far.
    public var output: String { String(decoding: state.inner.withLock { $0.output }, as: UTF8.self) }
    public var isRunning: Bool { !state.inner.withLock { $0.ended } }

    /// Writes `line` and a newline to its standard input (started `interactive`).
    public func send(_ line: String) { input.yield(line + "\n") }

    /// Closes its standard input.
    public func closeInput() { input.finish() }

    /// Sends `signal` while it runs.
    public func signal(_ signal: Int32) {
        state.inner.withLock { s in
            if !s.ended { kill(pid, signal) }
        }
    }

    /// Its exit status (128 + signal when killed), or nil when `limit` passed first.
    public func waitForExit(within limit: Duration) async -> Int32? {
        switch await state.wait(within: limit) {
        case .ended(let status): return status ?? -1
        case .timedOut: return nil
        }
    }

    /// Sends `signal`, waits up to `grace`, then kills it. Returns its exit status, or
    /// nil if even SIGKILL did not end it within `grace` (reported, never waited on forever).
    @discardableResult
    public func stop(signal first: Int32 = SIGTERM, grace: Duration = .seconds(5)) async -> Int32? {
        signal(first)
        if let status = await waitForExit(within: grace) { return status }
        signal(SIGKILL)
        return await waitForExit(within: grace)
    }

    /// Waits until its output contains `text`; throws (with the output) on the deadline
    /// or when it ends first.
    public func waitForOutput(_ text: String, within limit: Duration = .seconds(15)) async throws {
        let deadline = ContinuousClock.now + limit
        while !output.contains(text) {
            if !isRunning { throw ProcessFailure("\(command) ended before printing \"\(text)\": \(output.suffix(2000))") }
            guard ContinuousClock.now < deadline else {
                throw ProcessFailure("\(command) printing \"\(text)\": not within \(limit); it printed: \(output.suffix(2000))")
            }
            try await Task.sleep(for: .milliseconds(10))
        }
    }
}

/// Runs a program to its end with its standard output and standard error apart; on
/// the deadline it is cancelled (swift-subprocess kills it) and the call throws.
public func runCommandSplit(
    _ argv: [String], environment: [String: String] = [:], within limit: Duration = .seconds(60)
) async throws -> (status: Int32, out: String, err: String) {
    var updates: [Environment.Key: String?] = [:]
    for (k, v) in environment { if let key = Environment.Key(rawValue: k) { updates[key] = v } }
    let env = Environment.inherit.updating(updates)
    var options = PlatformOptions()
    options.teardownSequence = [.gracefulShutDown(allowedDurationToNextStep: .seconds(2))]
    let platformOptions = options
    return try await withThrowingTaskGroup(of: (status: Int32, out: String, err: String)?.self) { group in
        group.addTask {
            let r = try await run(
                .path(FilePath(argv[0])), arguments: Arguments(Array(argv.dropFirst())), environment: env, platformOptions: platformOptions,
                output: .string(limit: 16 << 20), error: .string(limit: 16 << 20))
            let status: Int32
            switch r.terminationStatus {
            case .exited(let code): status = code
            case .signaled(let signal): status = 128 + signal
            }
            return (status, r.standardOutput, r.standardError)
        }
        group.addTask {
            try await Task.sleep(for: limit)
            return nil
        }
        defer { group.cancelAll() }
        guard let first = try await group.next(), let result = first else {
            throw ProcessFailure("\(argv.joined(separator: " ")) did not end within \(limit)")
        }
        return result
    }
}
