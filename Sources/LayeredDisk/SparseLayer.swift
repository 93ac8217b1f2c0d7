/// A layer that can say which sectors it holds without reading them. A read
/// of sectors it holds none of passes through it to the layers below, so a
/// stack can find the one layer a read comes from before reading.
public protocol SparseLayer: DiskLayer {
    /// The runs of `sectors` this layer holds: reads of them never reach the
    /// layers below.
    func storedRuns(in sectors: Range<UInt64>) -> [Range<UInt64>]
}
