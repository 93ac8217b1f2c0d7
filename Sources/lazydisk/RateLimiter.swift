import Synchronization

/// Spaces transfers out so that together they stay under a byte rate: the
/// cap on background fill while a guest runs.
final class RateLimiter: Sendable {
    let bytesPerSecond: UInt64
    /// When the next transfer may start.
    private let next = Mutex(ContinuousClock.now)

    init(bytesPerSecond: UInt64) {
        precondition(bytesPerSecond > 0)
        self.bytesPerSecond = bytesPerSecond
    }

    /// Waits until `bytes` more fit under the rate, then counts them.
    func admit(_ bytes: UInt64) async throws {
        let clock = ContinuousClock()
        let wait = next.withLock { next in
            let start = max(next, clock.now)
            next = start + .seconds(Double(bytes) / Double(bytesPerSecond))
            return start - clock.now
        }
        if wait > .zero {
            try await Task.sleep(for: wait)
        }
    }
}
