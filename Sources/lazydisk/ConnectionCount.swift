import NIOCore
import Synchronization

/// The connections a listener has open, against a cap: one more than the
/// cap is refused rather than served, so no client can use up the
/// process's descriptors.
final class ConnectionCount: Sendable {
    let limit: Int
    private let count = Mutex(0)

    init(limit: Int) {
        self.limit = limit
    }

    /// Counts `channel` in until it closes; false (and not counted) when
    /// the cap is reached.
    func admit(_ channel: any Channel) -> Bool {
        let admitted = count.withLock { count in
            guard count < limit else { return false }
            count += 1
            return true
        }
        if admitted {
            channel.closeFuture.whenComplete { _ in self.count.withLock { $0 -= 1 } }
        }
        return admitted
    }
}
