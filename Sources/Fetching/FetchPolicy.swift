/// The knobs of the fetch scheduler. The defaults follow what stargz, SOCI,
/// Nydus, overlaybd and Mountpoint-S3 settled on and what `scripts/bench`
/// measured; see docs/benchmarks.md.
public struct FetchPolicy: Sendable, Hashable {
    /// Missing runs separated by at most this many cached bytes become one
    /// request when a read is waiting (the gap is fetched again, but one
    /// request costs a first-byte latency that dwarfs 256 KiB).
    public var foregroundMergeGap: UInt64 = 256 << 10
    /// The same for readahead and fills, which are not waited on.
    public var backgroundMergeGap: UInt64 = 2 << 20
    /// Largest single request when a read is waiting; larger runs are split
    /// into parallel requests so the read finishes sooner.
    public var foregroundRequestLimit: UInt64 = 8 << 20
    /// Readahead and fills ask for what the link's ``LinkEstimate`` says,
    /// between these two sizes. Below the smaller one, the work each request
    /// costs here (a commit, a flush) shows even on loopback.
    public var smallestBackgroundRequest: UInt64 = 8 << 20
    public var backgroundRequestLimit: UInt64 = 64 << 20
    /// The first readahead after two adjacent reads; doubles each time the
    /// reader catches up, up to ``readaheadLimit``. The guest kernel reads
    /// ahead only 128 KiB itself.
    public var initialReadahead: UInt64 = 1 << 20
    /// A stream's window is at most this many times the bytes it has read:
    /// readahead is earned. A guest's boot reads many short sequential runs;
    /// with windows sized from the link alone, a 44 MB boot fetched 812 MB
    /// (`scripts/bench boot`, 30 ms link, bench/boot.md).
    public var readaheadGrowth: UInt64 = 4
    public var readaheadLimit: UInt64 = 64 << 20
    /// Readahead bytes in flight at most, over all streams: how far ahead of
    /// its readers readahead may fetch (four streams of two full windows).
    /// Fetched bytes stream into the store, so this costs no memory.
    public var readaheadInFlightLimit: UInt64 = 256 << 20
    /// Bytes of background requests (readahead, fill, trace replay, pull)
    /// started and not yet arrived, at most: enough for every connection of
    /// the default sixteen to carry a request of 32 MiB. Reads are
    /// never held back by it.
    public var bytesInFlightLimit: UInt64 = 512 << 20
    /// Bytes written to the store and not yet committed (synced, then
    /// marked) beyond which no background request starts: what a crash may
    /// cost in fetches again, and what one `fdatasync` may have to write.
    /// Reads are never held back by it. See docs/cache-format.md.
    public var commitLagLimit: UInt64 = 256 << 20
    /// A stream that has read this many bytes is a bulk reader (a copy, a
    /// scan), not a guest's file: what it passes is left to the store to
    /// let go of (see ``ChunkStore/bulkReaderPassed(_:)``). A guest caches
    /// what it reads itself, and a copy reads each byte once.
    public var bulkStreamBytes: UInt64 = 16 << 20
    /// Sequential streams followed at once (several guests' processes, or
    /// nbdcopy's parallel workers); the least recently used is forgotten.
    public var streamLimit = 16
    /// Connections background work leaves free, so a read never waits for a
    /// connection behind a pull.
    public var connectionsReservedForReads = 1

    public init() {}

    /// The policy for a cache in memory (`--no-cache`) that lets `inFlight`
    /// bytes of readahead and background requests be on their way at once,
    /// a stream's window growing to `readaheadLimit` at most: what arrives
    /// ahead of its readers is what the cache must hold. Requests are a
    /// sixteenth of `inFlight` (2 MiB of 32), one for each of the default
    /// connections: behind a first-byte latency, more requests in flight
    /// carry more than fewer larger ones (docs/benchmarks.md).
    public static func memoryCache(inFlight: UInt64, readaheadLimit: UInt64) -> FetchPolicy {
        var policy = FetchPolicy()
        policy.readaheadInFlightLimit = inFlight
        policy.bytesInFlightLimit = inFlight
        policy.readaheadLimit = min(policy.readaheadLimit, readaheadLimit)
        policy.initialReadahead = min(policy.initialReadahead, policy.readaheadLimit)
        policy.backgroundRequestLimit = min(policy.backgroundRequestLimit, inFlight / 16)
        policy.smallestBackgroundRequest = min(policy.smallestBackgroundRequest, policy.backgroundRequestLimit)
        return policy
    }
}
