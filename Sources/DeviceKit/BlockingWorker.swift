import Foundation

/// A thread of its own that runs blocking work (serial reads with timeouts,
/// sane_read, libusb events, ALSA writes, espeak-ng's synthesis) one job at a time,
/// in order, off the cooperative pool. Callers await the result.
public final class BlockingWorker: Sendable {
    private let queue = JobQueue()

    public init(name: String) {
        let queue = queue
        let thread = Thread { queue.drain() }
        thread.name = name
        thread.start()
    }

    /// Runs `work` on the worker thread after the jobs queued before it.
    public func run<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            if !queue.add({ continuation.resume(with: Result { try work() }) }) {
                continuation.resume(throwing: CancellationError())
            }
        }
    }

    /// Lets queued jobs finish, then ends the thread.
    public func stop() { queue.stop() }

    deinit { queue.stop() }
}

/// The worker's queue. @unchecked Sendable: `jobs` and `stopped` are only touched
/// while `condition` is locked.
private final class JobQueue: @unchecked Sendable {
    private let condition = NSCondition()
    private var jobs: [@Sendable () -> Void] = []
    private var stopped = false

    func add(_ job: @escaping @Sendable () -> Void) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        guard !stopped else { return false }
        jobs.append(job)
        condition.signal()
        return true
    }

    func stop() {
        condition.lock()
        stopped = true
        condition.signal()
        condition.unlock()
    }

    func drain() {
        while true {
            condition.lock()
            while jobs.isEmpty && !stopped { condition.wait() }
            if jobs.isEmpty {
                condition.unlock()
                return
            }
            let job = jobs.removeFirst()
            condition.unlock()
            job()
        }
    }
}
