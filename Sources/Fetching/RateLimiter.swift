import Synchronization

/// Spaces transfers out so that together they stay under a byte rate: the
/// cap on background fill while a guest runs.
public final class RateLimiter: Sendable {
    public let bytesPerSecond: UInt64
    /// Where the time given out so far ends.
    private let next = Mutex(ContinuousClock.now)

    public init(bytesPerSecond: UInt64) {
        precondition(bytesPerSecond > 0)
        self.bytesPerSecond = bytesPerSecond
    }

    /// Waits until `bytes` have had their time under the rate: each call
    /// takes the next `bytes / rate` of the clock (after any earlier call's),
    /// and returns when that time has passed. So `n` bytes admitted take at
    /// least `n / rate`, whatever the concurrency.
    public func admit(_ bytes: UInt64) async throws {
        let clock = ContinuousClock()
        let end = next.withLock { next in
            next = max(next, clock.now) + .seconds(Double(bytes) / Double(bytesPerSecond))
            return next
        }
        try await Task.sleep(until: end, clock: clock)
    }
}
