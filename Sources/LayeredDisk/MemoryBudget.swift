import Synchronization

/// Memory several RAM layers draw on together, beside each one's own
/// limit: a server's guests share one cap on all their overlays, so no
/// number of guests can take more than it.
public final class MemoryBudget: Sendable {
    public let limitBytes: Int
    private let used = Atomic<Int>(0)

    public init(limitBytes: Int) {
        self.limitBytes = limitBytes
    }

    /// Bytes drawn now.
    public var usedBytes: Int { used.load(ordering: .relaxed) }

    /// Draws `bytes`, or nothing and false when they would pass the limit.
    func draw(_ bytes: Int) -> Bool {
        var current = used.load(ordering: .relaxed)
        while current <= limitBytes - bytes {
            let (exchanged, original) = used.compareExchange(expected: current, desired: current + bytes, ordering: .relaxed)
            if exchanged { return true }
            current = original
        }
        return false
    }

    func giveBack(_ bytes: Int) {
        used.subtract(bytes, ordering: .relaxed)
    }
}
