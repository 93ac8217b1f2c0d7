/// What the fetch pipeline has done since it started, with every read it
/// observed: the one set of counters `pull` prints and a server reports.
public struct FetchCounters: Sendable, Hashable {
    /// Reads of the disk observed, whether the cache held them or not.
    public var reads = 0
    public var bytesRead: UInt64 = 0
    /// Reads that reached the scheduler: the cache above did not hold them.
    public var misses = 0
    /// Bytes those reads asked for.
    public var bytesMissed: UInt64 = 0
    /// Chunks a read found already on their way and waited for (single-flight).
    public var joinedChunks = 0
    /// Chunks a read found stored by a fetch that finished after the cache
    /// above looked.
    public var storedChunks = 0
    /// HTTP range requests by purpose.
    public var requests: [FetchPurpose: Int] = [:]
    /// Bytes fetched by purpose.
    public var bytesFetched: [FetchPurpose: UInt64] = [:]
    /// Requests that covered more than one run of missing chunks.
    public var mergedRequests = 0

    public init() {}

    public var totalRequests: Int { requests.values.reduce(0, +) }

    /// Observed reads the cache answered without the scheduler.
    public var hits: Int { max(0, reads - misses) }

    /// Bytes fetched for each byte read; 1 is ideal, and below 1 the cache
    /// held data from before (a warm start or a pull).
    public var amplification: Double {
        bytesRead == 0 ? 0 : Double(totalBytesFetched) / Double(bytesRead)
    }
    public var totalBytesFetched: UInt64 { bytesFetched.values.reduce(0, +) }

    mutating func recordRequest(_ purpose: FetchPurpose, bytes: UInt64) {
        requests[purpose, default: 0] += 1
        bytesFetched[purpose, default: 0] += bytes
    }
}
