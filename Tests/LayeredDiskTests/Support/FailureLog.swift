import LayeredDisk
import Synchronization

/// Collects cache-fill failures reported from the reading task.
final class FailureLog: Sendable {
    private let failures = Mutex<[CacheFillFailure]>([])
    func append(_ failure: CacheFillFailure) { failures.withLock { $0.append(failure) } }
    var all: [CacheFillFailure] { failures.withLock { $0 } }
}
