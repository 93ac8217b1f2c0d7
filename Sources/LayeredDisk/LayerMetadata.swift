/// The properties of an attached layer, as the layer above it sees them.
public struct LayerMetadata: Sendable, Hashable {
    public var diskID: DiskID?
    public var sectorSize: Int
    public var sectorCount: UInt64
    public var physicalSectorSize: Int
    public var unmapBehavior: UnmapBehavior
    public var optimalUnmapSectors: UInt32
    public var isReadOnly: Bool
    /// Whether the layer supports write-no-overwrite and so can be a read cache.
    public var canReadCache: Bool
    public var isFUARespected: Bool

    /// Reads the metadata off an attached layer.
    public init(of layer: any DiskLayer) {
        diskID = layer.diskID
        sectorSize = layer.sectorSize
        sectorCount = layer.sectorCount
        physicalSectorSize = layer.physicalSectorSize
        unmapBehavior = layer.unmapBehavior
        optimalUnmapSectors = layer.optimalUnmapSectors
        isReadOnly = layer.isLogicallyReadOnly
        canReadCache = layer is any WriteNoOverwriteLayer
        isFUARespected = layer.isFUARespected
    }
}
