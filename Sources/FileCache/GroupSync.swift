import Dispatch
import Synchronization
import SystemPackage

/// Makes writes to one file durable in batches: every caller waits for an
/// `fdatasync` that started after it asked, and one `fdatasync` answers all
/// who asked while the previous one ran (a group commit).
///
/// Many fetches finish at once while a cache fills; one flush per fetch
/// would serialise them on the disk's flush latency. The flushes run on a
/// queue of their own, so they never hold a thread of Swift's cooperative
/// pool.
final class GroupSync: Sendable {
    private typealias Waiter = CheckedContinuation<Void, any Error>

    private struct State {
        var waiting: [Waiter] = []
        var isFlushing = false
    }

    private let file: FileDescriptor
    private let queue = DispatchQueue(label: "lazydisk.cache.sync")
    private let state = Mutex(State())

    init(_ file: FileDescriptor) {
        self.file = file
    }

    /// Returns once everything written to the file before the call is durable.
    func synchronize() async throws {
        try await withCheckedThrowingContinuation { (waiter: Waiter) in
            let startsFlushing = state.withLock { state in
                state.waiting.append(waiter)
                defer { state.isFlushing = true }
                return !state.isFlushing
            }
            if startsFlushing {
                queue.async { self.flushWhileWaited() }
            }
        }
    }

    /// Flushes for everyone waiting, again and again until nobody is.
    private func flushWhileWaited() {
        while true {
            let batch = state.withLock { state -> [Waiter] in
                defer { state.waiting = [] }
                state.isFlushing = !state.waiting.isEmpty
                return state.waiting
            }
            guard !batch.isEmpty else { return }
            let result = Result { () throws(CacheFileError) in try file.synchronizeData() }
            for waiter in batch {
                waiter.resume(with: result.mapError { $0 })
            }
        }
    }
}
