import NIOCore
import Synchronization

/// Runs Swift tasks on a channel's event loop, so a connection's request
/// handling, its disk reads from the page cache and its replies stay on one
/// thread instead of hopping between NIO's loop and the cooperative pool for
/// every request (each hop is a thread wake-up).
///
/// Jobs wait in a queue of their own, and the loop is handed one task that
/// runs the jobs queued by then: a job that arrives while such a task is
/// pending rides along instead of costing the loop a closure of its own
/// (about four a cold read, each a heap allocation).
final class EventLoopExecutor: TaskExecutor {
    private let eventLoop: any EventLoop
    private let queue = Mutex(JobQueue())

    private struct JobQueue: ~Copyable {
        var jobs = CircularBuffer<UnownedJob>()
        /// Whether the loop has a run of the queue pending or under way,
        /// which looks at the queue again before it ends.
        var isRunScheduled = false
    }

    init(_ eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        let needsRun = queue.withLock { queue in
            queue.jobs.append(job)
            defer { queue.isRunScheduled = true }
            return !queue.isRunScheduled
        }
        if needsRun {
            eventLoop.execute { self.runQueuedJobs() }
        }
    }

    /// Runs the jobs queued when it starts, one at a time; jobs enqueued
    /// meanwhile get a run of their own, so a queue that keeps refilling
    /// itself never holds back the loop's I/O.
    private func runQueuedJobs() {
        let count = queue.withLock { $0.jobs.count }
        for _ in 0..<count {
            let job = queue.withLock { $0.jobs.removeFirst() }
            job.runSynchronously(on: asUnownedTaskExecutor())
        }
        let needsRun = queue.withLock { queue in
            queue.isRunScheduled = !queue.jobs.isEmpty
            return queue.isRunScheduled
        }
        if needsRun {
            eventLoop.execute { self.runQueuedJobs() }
        }
    }
}
