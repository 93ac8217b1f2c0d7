/// A cache that keeps whole chunks, as the layer below it sees it: which
/// chunks it holds and a way to add whole ones.
///
/// The bottom layer fetches misses rounded out to whole chunks and stores
/// them here, so a small read still leaves its chunk cached and the stack's
/// own read-cache fill finds nothing left to write.
public protocol ChunkStore: Sendable {
    /// Bytes per chunk; a multiple of the sector size.
    var chunkBytes: Int { get }
    /// Stores whole chunks starting at `sector` without overwriting any the
    /// store already holds. Best effort from the caller's side.
    func writeNoOverwrite(_ bytes: ArraySlice<UInt8>, at sector: UInt64) async throws
}
