/// One entry of a ``LayeredDisk``'s stack and how it takes part in I/O.
public struct LayerConfiguration: Sendable {
    /// The layer, not yet attached.
    public var layer: any AttachableLayer
    /// Writes to this layer also go to the layer below.
    public var writeThrough: Bool
    /// Sectors read from below are stored in this layer (write-no-overwrite),
    /// so the next read of them stops here.
    public var readCache: Bool
    /// For a read cache that answers at once (an ``ImmediateReadLayer``):
    /// what brings it the sectors it lacks. A read then waits for the cache
    /// to hold them and reads them from it; the layers below are read only
    /// when the cache refuses them. Without one, the stack stores what the
    /// layers below returned.
    public var filler: (any ReadCacheFiller)?

    public init(_ layer: any AttachableLayer, writeThrough: Bool = false, readCache: Bool = false) {
        self.layer = layer
        self.writeThrough = writeThrough
        self.readCache = readCache
    }

    /// A read cache filled by `filler`.
    public init(_ layer: any AttachableLayer, filledBy filler: any ReadCacheFiller) {
        self.init(layer, readCache: true)
        self.filler = filler
    }
}
