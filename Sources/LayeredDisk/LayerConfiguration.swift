/// One entry of a ``LayeredDisk``'s stack and how it takes part in I/O.
public struct LayerConfiguration: Sendable {
    /// The layer, not yet attached.
    public var layer: any AttachableLayer
    /// Writes to this layer also go to the layer below.
    public var writeThrough: Bool
    /// Sectors read from below are stored in this layer (write-no-overwrite),
    /// so the next read of them stops here.
    public var readCache: Bool

    public init(_ layer: any AttachableLayer, writeThrough: Bool = false, readCache: Bool = false) {
        self.layer = layer
        self.writeThrough = writeThrough
        self.readCache = readCache
    }
}
