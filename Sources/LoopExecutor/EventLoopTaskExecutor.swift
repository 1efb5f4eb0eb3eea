import NIOCore
import Synchronization

/// An event loop as a Swift task executor: jobs of a task that prefers it run on the
/// loop's thread, between its I/O (`EventLoop.execute`). One per loop.
///
/// A task that awaits a channel's answers on the channel's own loop resumes there
/// without a hop to another thread: the API server runs each connection's requests so,
/// and the PostgreSQL store each transaction on its connection's loop.
public final class EventLoopTaskExecutor: TaskExecutor {
    public let eventLoop: any EventLoop

    private init(_ eventLoop: any EventLoop) { self.eventLoop = eventLoop }

    private static let executors = Mutex<[ObjectIdentifier: EventLoopTaskExecutor]>([:])

    /// The executor of `eventLoop`, made the first time it is asked for.
    public static func of(_ eventLoop: any EventLoop) -> EventLoopTaskExecutor {
        executors.withLock { all in
            let key = ObjectIdentifier(eventLoop as AnyObject)
            if let known = all[key] { return known }
            let made = EventLoopTaskExecutor(eventLoop)
            all[key] = made
            return made
        }
    }

    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        eventLoop.execute { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }
}
