/// What a fill (a pull, a trace replay, a background fill) has done so far,
/// for its progress line and summary.
public struct FillProgress: Sendable, Hashable {
    /// Bytes of disk the fill covers.
    public var bytesWanted: UInt64 = 0
    /// Bytes of those found in the cache (before, or stored by another process).
    public var bytesAlreadyCached: UInt64 = 0
    /// Bytes this fill fetched itself, and in how many requests.
    public var bytesFetched: UInt64 = 0
    public var requests = 0

    public init() {}

    /// The bytes the fill has accounted for: fetched or found cached.
    public var bytesDone: UInt64 { bytesAlreadyCached + bytesFetched }

    /// Adds another fill's figures to these.
    public mutating func add(_ other: FillProgress) {
        bytesWanted += other.bytesWanted
        bytesAlreadyCached += other.bytesAlreadyCached
        bytesFetched += other.bytesFetched
        requests += other.requests
    }
}
