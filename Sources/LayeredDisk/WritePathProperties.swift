/// The disk-wide properties that depend on every layer a write reaches.
struct WritePathProperties {
    private(set) var isFUARespected = true
    private(set) var unmapBehavior = UnmapBehavior.zeroes
    private(set) var optimalUnmapSectors: UInt32 = 1
    private var unmapMustZero = false

    /// Folds in the next layer down the write path.
    ///
    /// Unmap reports zeroes only if every layer zeroes. Once a write-through
    /// layer is involved, layers that disagree make the disk ignore unmap:
    /// otherwise removing the write-through layer later could change what
    /// the guest sees.
    mutating func include(_ layer: any DiskLayer, writeThrough: Bool) {
        isFUARespected = isFUARespected && layer.isFUARespected
        unmapMustZero = unmapMustZero || writeThrough
        unmapBehavior = switch (unmapBehavior, layer.unmapBehavior) {
        case (.zeroes, .zeroes): .zeroes
        case _ where unmapMustZero: .ignored
        case (.ignored, _), (_, .ignored): .ignored
        default: .unspecified
        }
        optimalUnmapSectors = max(optimalUnmapSectors, layer.optimalUnmapSectors)
    }
}
