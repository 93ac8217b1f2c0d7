/// The scheduler's counters together with every read it observed, cached or
/// not: what `pull` prints and what a server reports.
public struct FetchStatistics: Sendable, Hashable {
    public var counters: FetchCounters
    /// Reads of the disk observed, whether the cache held them or not.
    public var reads: Int
    public var bytesRead: UInt64

    /// Observed reads the cache answered without the scheduler.
    public var hits: Int { max(0, reads - counters.misses) }

    /// Bytes fetched for each byte read; 1 is ideal, and below 1 the cache
    /// held data from before (a warm start or a pull).
    public var amplification: Double {
        bytesRead == 0 ? 0 : Double(counters.totalBytesFetched) / Double(bytesRead)
    }
}
