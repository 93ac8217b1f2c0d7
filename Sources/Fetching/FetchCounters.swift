/// What the fetch scheduler has done since it started, for `pull`'s summary
/// and the server's status.
public struct FetchCounters: Sendable, Hashable {
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
    public var totalBytesFetched: UInt64 { bytesFetched.values.reduce(0, +) }

    mutating func recordRequest(_ purpose: FetchPurpose, bytes: UInt64) {
        requests[purpose, default: 0] += 1
        bytesFetched[purpose, default: 0] += bytes
    }
}
