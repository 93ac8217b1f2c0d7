/// A layer that can be filled without ever replacing what it already holds,
/// which is what makes it usable as a read cache.
///
/// Data fetched from below may be stale by the time it is written back (a
/// guest write can land in between), so a cache fill must never overwrite a
/// present sector: the racing write wins.
public protocol WriteNoOverwriteLayer: DiskLayer {
    /// Stores the sectors of `bytes` starting at `sector` that are not present
    /// yet; sectors already present are left exactly as they are.
    func writeNoOverwrite(_ bytes: ArraySlice<UInt8>, at sector: UInt64) async throws
}
