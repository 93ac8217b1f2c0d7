import NIOPosix
import Synchronization
import SystemPackage

/// Makes writes to one file durable in batches: every caller waits for an
/// `fdatasync` that started after it asked, and one `fdatasync` answers all
/// who asked while the previous one ran (a group commit).
///
/// Many fetches finish at once while a cache fills; one flush per fetch
/// would serialise them on the disk's flush latency. The flushes, and what
/// each caller does once its bytes are durable, run on the blocking-work
/// pool, so neither an event loop nor a thread of Swift's cooperative pool
/// ever waits on the disk.
final class GroupSync: Sendable {
    private typealias Waiter = (then: @Sendable () throws -> Void, continuation: CheckedContinuation<Void, any Error>)

    private struct State {
        var waiting: [Waiter] = []
        var isFlushing = false
    }

    private let file: FileDescriptor
    private let pool: NIOThreadPool
    private let state = Mutex(State())

    init(_ file: FileDescriptor, pool: NIOThreadPool) {
        self.file = file
        self.pool = pool
    }

    /// Returns once everything written to the file before the call is
    /// durable and `then` (run on the pool right after the flush) returned.
    func synchronize(then: @escaping @Sendable () throws -> Void) async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            let startsFlushing = state.withLock { state in
                state.waiting.append((then, continuation))
                defer { state.isFlushing = true }
                return !state.isFlushing
            }
            if startsFlushing {
                pool.submit { _ in self.flushWaiting() }
            }
        }
    }

    /// Flushes once for everyone waiting, then leaves the thread to other
    /// work: another batch that gathered meanwhile is a new item on the pool.
    private func flushWaiting() {
        let batch = state.withLock { state -> [Waiter] in
            defer { state.waiting = [] }
            return state.waiting
        }
        let synced = Result { () throws(CacheFileError) in try file.synchronizeData() }.mapError { $0 as any Error }
        for waiter in batch {
            waiter.continuation.resume(with: synced.flatMap { Result(catching: waiter.then) })
        }
        let flushesAgain = state.withLock { state in
            state.isFlushing = !state.waiting.isEmpty
            return state.isFlushing
        }
        if flushesAgain {
            pool.submit { _ in self.flushWaiting() }
        }
    }
}
