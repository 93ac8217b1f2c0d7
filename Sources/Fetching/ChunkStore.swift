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
    /// Copies `bytes`, which lie in chunks the store holds, into `target`.
    func readHeld(_ bytes: Range<UInt64>, into target: UnsafeMutableRawBufferPointer) throws
    /// Writes bytes a fetch brought, which belong at disk byte `offset` in
    /// chunks the fetch is bringing whole, without marking them held: from
    /// then on ``readHeld(_:into:)`` returns them, so nothing needs to keep
    /// them in memory. Writing the same bytes again is harmless. Say so with
    /// ``wrote(_:)`` once every byte of them is written, then commit them
    /// with ``commitChunks(_:)``.
    func writeFetched(_ bytes: UnsafeRawBufferPointer, at offset: UInt64) throws
    /// Every byte of `chunks` is written: reads may take them from the
    /// store now (they count as held in this process), before the commit
    /// that makes them durable and marks them for every process.
    func wrote(_ chunks: Range<Int>)
    /// Makes written chunks durable, then marks them held.
    func commitChunks(_ runs: [Range<Int>]) async throws
    /// Claims `chunks` for a fetch by this process, where other processes
    /// share the store, so that two fills split the work; nil when another
    /// process is fetching some of them now. Release it once they are stored.
    func claim(_ chunks: Range<Int>) throws -> (any ChunkStoreClaim)?
}

/// A claim on chunks being fetched; see ``ChunkStore/claim(_:)``.
public protocol ChunkStoreClaim: Sendable {
    /// Lets others fetch the chunks (they will find them stored).
    func release()
}

extension ChunkStore {
    /// The missing runs of every run in `runs`, in their order.
    public func missingRuns(in runs: [Range<Int>]) async throws -> [Range<Int>] {
        var missing: [Range<Int>] = []
        for run in runs {
            missing += try await missingRuns(in: run)
        }
        return missing
    }

    /// A store that no other process shares grants every claim.
    public func claim(_ chunks: Range<Int>) throws -> (any ChunkStoreClaim)? {
        UnsharedClaim()
    }
}

private struct UnsharedClaim: ChunkStoreClaim {
    func release() {}
}
