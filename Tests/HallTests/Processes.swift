import ChildProcess
import Foundation

// Waiting with deadlines in the tests: a wait that passes its deadline throws,
// naming what it waited for and what it saw. Child processes: module ChildProcess.

/// Waits, with a deadline, until `condition` holds, checking every `interval`; on
/// the deadline it throws with `what` and the last thing `seen` returned.
func eventually(
    _ what: String, within limit: Duration = .seconds(10), every interval: Duration = .milliseconds(20),
    seen: @Sendable () async -> String = { "" }, _ condition: @Sendable () async throws -> Bool
) async throws {
    let deadline = ContinuousClock.now + limit
    while true {
        if try await condition() { return }
        guard ContinuousClock.now < deadline else {
            throw ProcessFailure("\(what): not within \(limit); last seen: \(await seen())")
        }
        try await Task.sleep(for: interval)
    }
}

/// Fetches with `fetch` every `interval` until `done` holds for what it got, up to
/// `limit`; on the deadline it throws with `what` and the last value fetched.
func poll<T: Sendable>(
    _ what: String, within limit: Duration = .seconds(30), every interval: Duration = .milliseconds(20),
    _ fetch: () async throws -> T, until done: (T) -> Bool
) async throws -> T {
    let deadline = ContinuousClock.now + limit
    while true {
        let value = try await fetch()
        if done(value) { return value }
        guard ContinuousClock.now < deadline else { throw ProcessFailure("\(what): not within \(limit); last seen: \(value)") }
        try await Task.sleep(for: interval)
    }
}

