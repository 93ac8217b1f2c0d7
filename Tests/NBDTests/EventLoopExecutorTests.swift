@testable import NBD
import NIOCore
import NIOPosix
import Synchronization
import Testing

/// The executor that keeps a connection's tasks on its event loop, on a real
/// loop: jobs queue up and the loop runs them in batches, so a job enqueued
/// while a batch runs must still get a run of its own.
@Suite("Event loop executor")
struct EventLoopExecutorTests {
    @Test("tasks that yield over and over all finish, every step on the loop's thread", .timeLimit(.minutes(5)))
    func jobsEnqueuedWhileTheQueueRunsAreRun() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let eventLoop = group.next()
        let executor = EventLoopExecutor(eventLoop)
        let tally = Tally()
        // Every yield enqueues the task again, from inside a run of the queue.
        await withTaskGroup(of: Void.self) { tasks in
            for id in 0..<8 {
                tasks.addTask(executorPreference: executor) {
                    for _ in 0..<200 {
                        tally.count(id, onTheLoop: eventLoop.inEventLoop)
                        await Task.yield()
                    }
                }
            }
        }
        #expect(tally.steps.withLock { $0 } == Dictionary(uniqueKeysWithValues: (0..<8).map { ($0, 200) }))
        #expect(tally.stepsOffTheLoop.load(ordering: .relaxed) == 0)
        try await group.shutdownGracefully()
    }

    /// The steps each task took, and how many ran off the loop's thread.
    private final class Tally: Sendable {
        let steps = Mutex<[Int: Int]>([:])
        let stepsOffTheLoop = Atomic<Int>(0)

        func count(_ task: Int, onTheLoop: Bool) {
            steps.withLock { $0[task, default: 0] += 1 }
            if !onTheLoop { stepsOffTheLoop.add(1, ordering: .relaxed) }
        }
    }
}
