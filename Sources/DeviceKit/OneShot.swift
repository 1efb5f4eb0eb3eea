import Synchronization

/// A value that arrives once, awaited by one task. `fulfill` from anywhere (a
/// key press, a reader thread); cancelling the waiting task makes `wait` throw
/// `CancellationError`. Used for "answer or timeout" exchanges with devices.
public final class OneShot<Value: Sendable>: Sendable {
    private enum State {
        case empty
        case waiting(CheckedContinuation<Value, any Error>)
        case done(Result<Value, any Error>)
    }

    private let state = Mutex<State>(.empty)

    public init() {}

    /// Delivers the value. Returns false when a value (or an error) was already delivered.
    @discardableResult
    public func fulfill(_ value: Value) -> Bool { complete(.success(value)) }

    @discardableResult
    public func fail(_ error: any Error) -> Bool { complete(.failure(error)) }

    private func complete(_ result: Result<Value, any Error>) -> Bool {
        let waiter: CheckedContinuation<Value, any Error>?
        let accepted: Bool
        (waiter, accepted) = state.withLock { state in
            switch state {
            case .empty:
                state = .done(result)
                return (nil, true)
            case .waiting(let c):
                state = .done(result)
                return (c, true)
            case .done:
                return (nil, false)
            }
        }
        waiter?.resume(with: result)
        return accepted
    }

    public func wait() async throws -> Value {
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (c: CheckedContinuation<Value, any Error>) in
                let ready: Result<Value, any Error>? = state.withLock { state in
                    switch state {
                    case .empty:
                        state = .waiting(c)
                        return nil
                    case .done(let r):
                        return r
                    case .waiting:
                        return .failure(DeviceError(.sequenceError, "OneShot awaited twice"))
                    }
                }
                if let ready { c.resume(with: ready) }
            }
        } onCancel: {
            fail(CancellationError())
        }
    }
}

/// Runs `operation` with a deadline on `clock`: returns its value, or nil when the
/// deadline passed first (the operation is then cancelled).
public func withDeadline<Value: Sendable>(
    _ timeout: Duration, clock: any Clock<Duration>, _ operation: @escaping @Sendable () async throws -> Value
) async throws -> Value? {
    try await withThrowingTaskGroup(of: Value?.self) { group in
        group.addTask { try await operation() }
        group.addTask {
            try await clock.sleep(for: timeout)
            return nil
        }
        defer { group.cancelAll() }
        return try await group.next()!
    }
}
