@testable import PostgresStore
import Synchronization
import Testing

/// The PostgreSQL store's queue of appends.
@Suite("the appends' queue", .timeLimit(.minutes(1)))
struct AsyncLockTests {
    @Test("a caller cancelled while it waits leaves at once and its body never runs; the others run in the order they came")
    func cancelledWaiterLeaves() async throws {
        let lock = AsyncLock()
        let ran = Ran()
        let (gate, open) = AsyncStream.makeStream(of: Void.self)
        let holder = Task {
            try await lock.run {
                ran.add("holder")
                for await _ in gate { break }
            }
        }
        try await eventually("the holder inside") { ran.all == ["holder"] }
        let cancelled = Task { try await lock.run { ran.add("cancelled") } }
        try await eventually("the first waiter queued", seen: { "\(lock.waiting) waiting" }) { lock.waiting == 1 }
        let next = Task { try await lock.run { ran.add("next") } }
        try await eventually("the second waiter queued", seen: { "\(lock.waiting) waiting" }) { lock.waiting == 2 }

        cancelled.cancel()
        // It leaves while the holder still holds the lock.
        try await eventually("the cancelled waiter gone", seen: { "\(lock.waiting) waiting" }) { lock.waiting == 1 }
        await #expect(throws: CancellationError.self) { try await cancelled.value }
        #expect(ran.all == ["holder"])

        open.yield()
        open.finish()
        try await holder.value
        try await next.value
        #expect(ran.all == ["holder", "next"])
        #expect(lock.waiting == 0)
        // And the lock is free again.
        try await lock.run { ran.add("after") }
        #expect(ran.all.last == "after")
    }

    final class Ran: Sendable {
        private let names = Mutex<[String]>([])
        func add(_ name: String) { names.withLock { $0.append(name) } }
        var all: [String] { names.withLock { $0 } }
    }
}
