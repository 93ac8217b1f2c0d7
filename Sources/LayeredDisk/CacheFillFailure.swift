/// A read-cache fill that failed. The read that caused it still succeeded.
///
/// Filling a cache is best effort: a full disk must not fail the guest's read.
/// The failure is handed to the disk's handler so the owner can log it.
public struct CacheFillFailure: Error {
    /// The index of the cache layer, from the top.
    public var layer: Int
    /// The cache layer's ``DiskLayer/layerType``.
    public var layerType: String
    /// The sectors that could not be stored.
    public var sectors: Range<UInt64>
    /// What the layer threw.
    public var underlying: any Error
}

extension CacheFillFailure: CustomStringConvertible {
    public var description: String {
        "failed to fill the \(layerType) read cache (layer \(layer)) at sectors \(sectors): \(underlying)"
    }
}
