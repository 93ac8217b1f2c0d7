/// A cache that keeps whole chunks, as the fetch scheduler below it sees it:
/// which chunks it holds, their bytes, and a way to add whole ones.
///
/// Whatever a fetch brings beyond what a read asked for (the rest of a chunk,
/// a merged gap, readahead, a background fill) is stored here, and planning
/// skips what is already here, so no byte is fetched twice.
public protocol ChunkStore: Sendable {
    var chunkLayout: ChunkLayout { get }
    /// Runs of chunks in `chunks` the store does not hold yet, including what
    /// other processes sharing it have made durable since it last looked.
    func missingRuns(in chunks: Range<Int>) async throws -> [Range<Int>]
    /// Runs of chunks in `chunks` this process does not know the store
    /// holds: what it has seen, without looking for what other processes
    /// stored since (a fetch's ``claim(_:)`` looks).
    func knownMissingRuns(in chunks: Range<Int>) -> [Range<Int>]
    /// Copies `bytes`, which lie in chunks the store holds, into `target`.
    func readHeld(_ bytes: Range<UInt64>, into target: UnsafeMutableRawBufferPointer) throws
    /// Writes bytes a fetch brought, which belong at disk byte `offset` in
    /// chunks the fetch is bringing whole, without marking them held: from
    /// then on ``readHeld(_:into:)`` returns them, so nothing needs to keep
    /// them in memory. Writing the same bytes again is harmless. Say so with
    /// ``wrote(_:)`` once every byte of them is written, then commit them
    /// with ``commitChunks(_:)``.
    func writeFetched(_ bytes: UnsafeRawBufferPointer, at offset: UInt64) throws
    /// The pieces ``writeFetched(_:at:)`` is best given: a fetch gathers
    /// its bytes into runs of this many that start and end on a multiple of
    /// it (but for a request's first and last), instead of handing them over
    /// as the network cuts them. Zero: as they come.
    var fetchedWriteUnit: Int { get }
    /// Every byte of `chunks` is written: reads may take them from the
    /// store now (they count as held in this process), before the commit
    /// that makes them durable and marks them for every process.
    func wrote(_ chunks: Range<Int>)
    /// Makes written chunks durable, then marks them held.
    func commitChunks(_ runs: [Range<Int>]) async throws
    /// Claims for a fetch by this process what it can of `chunks`, where
    /// other processes share the store, then looks at what they stored: the
    /// claim names the chunks still missing, those this process is to fetch
    /// and those another process is fetching now, which a fetch waits for
    /// with ``awaitRelease(of:within:)`` instead of fetching them again.
    /// Release the claim once the claimed chunks are committed (or failed).
    func claim(_ chunks: Range<Int>) async throws -> ChunkClaim
    /// Returns true once no other process claims any of `chunks` (it
    /// committed them, failed, or died: the kernel drops a dead process's
    /// claims), false when `limit` passes first. Costs no CPU while it waits.
    func awaitRelease(of chunks: [Range<Int>], within limit: Duration) async -> Bool
    /// A bulk reader (a copy streaming the disk, see
    /// ``FetchPolicy/bulkStreamBytes``) is done with `bytes`: a store that
    /// keeps them where the host needs room may let them go. Called on the
    /// reader's thread, which may be an event loop: it must not block.
    func bulkReaderPassed(_ bytes: Range<UInt64>)
    /// The same as ``writeFetched(_:at:)``, unless taking `bytes` would make
    /// the store forget chunks no read has taken yet: then it writes none
    /// of them and returns false, and calls ``onRoomMade(_:)``'s action once
    /// a read has made room.
    func writeFetchedIfRoom(_ bytes: UnsafeRawBufferPointer, at offset: UInt64) throws -> Bool
    /// Sets what to call when a write refused for room could now be taken.
    func onRoomMade(_ action: @escaping @Sendable () -> Void)
    /// Whether ``writeFetchedIfRoom(_:at:)`` ever refuses: a store in
    /// bounded memory. Fetches into any other never wait for room.
    var refusesWritesForRoom: Bool { get }
}

/// Chunks a fetch claimed, and those another process is fetching; see
/// ``ChunkStore/claim(_:)``.
public struct ChunkClaim: Sendable {
    /// Runs of missing chunks this fetch is to fetch.
    public let claimed: [Range<Int>]
    /// Runs of missing chunks another process is fetching now.
    public let heldElsewhere: [Range<Int>]
    private let releasing: @Sendable () -> Void

    public init(claimed: [Range<Int>], heldElsewhere: [Range<Int>] = [], release: @escaping @Sendable () -> Void = {}) {
        self.claimed = claimed
        self.heldElsewhere = heldElsewhere
        releasing = release
    }

    /// Lets others fetch the claimed chunks (they will find them stored).
    public func release() {
        releasing()
    }
}

extension ChunkStore {
    /// Bytes as they come, unless the store says otherwise.
    public var fetchedWriteUnit: Int { 0 }

    /// Nothing to let go of, unless the store says otherwise.
    public func bulkReaderPassed(_ bytes: Range<UInt64>) {}

    /// A store that never forgets what it was given always has room.
    public func writeFetchedIfRoom(_ bytes: UnsafeRawBufferPointer, at offset: UInt64) throws -> Bool {
        try writeFetched(bytes, at: offset)
        return true
    }

    public func onRoomMade(_ action: @escaping @Sendable () -> Void) {}

    public var refusesWritesForRoom: Bool { false }

    /// The missing runs of every run in `runs`, in their order.
    public func missingRuns(in runs: [Range<Int>]) async throws -> [Range<Int>] {
        var missing: [Range<Int>] = []
        for run in runs {
            missing += try await missingRuns(in: run)
        }
        return missing
    }

    /// A store that no other process shares grants every claim.
    public func claim(_ chunks: Range<Int>) async throws -> ChunkClaim {
        ChunkClaim(claimed: try await missingRuns(in: chunks))
    }

    /// No other process holds a claim on a store that no other process shares.
    public func awaitRelease(of chunks: [Range<Int>], within limit: Duration) async -> Bool {
        true
    }
}
