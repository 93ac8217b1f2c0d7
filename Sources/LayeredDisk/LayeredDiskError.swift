/// Why a stack of layers cannot form a ``LayeredDisk``.
///
/// Each case but ``noLayers`` names the index of the offending layer, counted
/// from the top (0) down, as it appears in the configuration.
public enum LayeredDiskError: Error {
    /// The configuration lists no layers at all.
    case noLayers
    /// The layer's own attach step failed; `underlying` says why.
    case attachFailed(layer: Int, underlying: any Error)
    /// A stack made without attaching was given a layer that must attach
    /// first (one that sizes itself from the layer below).
    case needsAttaching(layer: Int)
    /// `readCache` was requested on a layer without write-no-overwrite, which
    /// would let a stale fill overwrite newer data.
    case readCacheNotSupported(layer: Int)
    /// The layer's sector size is not a power of two.
    case invalidSectorSize(layer: Int, sectorSize: Int)
    /// The layer's sector size differs from the bottom layer's.
    case mismatchedSectorSize(layer: Int, expected: Int, found: Int)
    /// A write-through layer whose writes would go nowhere: it is not on the
    /// write path (a non-write-through layer sits above it), or it is the bottom.
    case uselessWriteThrough(layer: Int)
    /// A writable disk would have to write to this read-only layer.
    case readOnlyLayerOnWritePath(layer: Int)

    /// The index of the layer at fault, from the top; `nil` for ``noLayers``.
    public var layerIndex: Int? {
        switch self {
        case .noLayers: nil
        case let .attachFailed(layer, _), let .needsAttaching(layer), let .readCacheNotSupported(layer),
             let .invalidSectorSize(layer, _), let .mismatchedSectorSize(layer, _, _),
             let .uselessWriteThrough(layer), let .readOnlyLayerOnWritePath(layer):
            layer
        }
    }
}

extension LayeredDiskError: CustomStringConvertible {
    public var description: String {
        switch self {
        case .noLayers:
            "no layers were configured"
        case let .attachFailed(layer, underlying):
            "layer \(layer): failed to attach: \(underlying)"
        case let .needsAttaching(layer):
            "layer \(layer): must be attached above the layer below it first"
        case let .readCacheNotSupported(layer):
            "layer \(layer): read caching was requested but the layer cannot write without overwriting"
        case let .invalidSectorSize(layer, sectorSize):
            "layer \(layer): sector size \(sectorSize) is not a power of two"
        case let .mismatchedSectorSize(layer, expected, found):
            "layer \(layer): sector size \(found) does not match the bottom layer's \(expected)"
        case let .uselessWriteThrough(layer):
            "layer \(layer): write-through has nothing to write through to"
        case let .readOnlyLayerOnWritePath(layer):
            "layer \(layer): read-only layer on the write path of a writable disk"
        }
    }
}
