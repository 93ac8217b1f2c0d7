import NIOCore

/// Runs Swift tasks on a channel's event loop, so a connection's request
/// handling, its disk reads from the page cache and its replies stay on one
/// thread instead of hopping between NIO's loop and the cooperative pool for
/// every request (each hop is a thread wake-up).
final class EventLoopExecutor: TaskExecutor {
    private let eventLoop: any EventLoop

    init(_ eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        eventLoop.execute {
            job.runSynchronously(on: self.asUnownedTaskExecutor())
        }
    }
}
