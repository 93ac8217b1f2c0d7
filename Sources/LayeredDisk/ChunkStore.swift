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
    func missingRuns(in chunks: Range<Int>) throws -> [Range<Int>]
    /// Copies `bytes`, which lie in chunks the store holds, into `target`.
    func readHeld(_ bytes: Range<UInt64>, into target: UnsafeMutableRawBufferPointer) throws
    /// Writes the whole chunks `bytes` covers, starting at the first byte of
    /// `chunk`, that the store does not hold yet, without marking them held:
    /// from then on ``readHeld(_:into:)`` returns their bytes, so the caller
    /// may let go of its copy. Returns the runs written, for
    /// ``commitChunks(_:)``.
    func writeChunks(_ bytes: ArraySlice<UInt8>, from chunk: Int) throws -> [Range<Int>]
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
    /// A store that no other process shares grants every claim.
    public func claim(_ chunks: Range<Int>) throws -> (any ChunkStoreClaim)? {
        UnsharedClaim()
    }
}

private struct UnsharedClaim: ChunkStoreClaim {
    func release() {}
}
