import Synchronization

/// A disk made of a stack of layers, read top-down and written to the top.
///
/// A read asks each layer, from the top, for the sectors still missing; what no
/// layer holds reads as zeros. A layer configured as a read cache keeps what
/// the layers below returned, so the next read stops there. Writes, flushes and
/// unmaps go to the top layer and on down while layers are write-through.
///
/// This is how lazydisk stacks a throw-away RAM overlay over a persistent file
/// cache over a remote image.
public final class LayeredDisk: BlockDevice {
    let layers: [StackLayer]
    public let isReadOnly: Bool
    public let sectorSize: Int
    public let physicalSectorSize: Int
    public let diskID: DiskID?
    public let isFUARespected: Bool
    public let unmapBehavior: UnmapBehavior
    public let optimalUnmapSectors: UInt32
    let cacheFillFailureHandler: @Sendable (CacheFillFailure) -> Void
    let cacheFillFailures = Atomic<Int>(0)

    /// Attaches `configurations` (top first) bottom-up and validates the stack.
    ///
    /// - Parameters:
    ///   - readOnly: Refuse writes and unmaps; the layers on the write path may
    ///     then be read-only themselves.
    ///   - onCacheFillFailure: Called, from the reading task, for every cache
    ///     fill that fails; the read itself still succeeds.
    public convenience init(
        readOnly: Bool,
        layers configurations: [LayerConfiguration],
        onCacheFillFailure: @escaping @Sendable (CacheFillFailure) -> Void = { _ in }
    ) async throws(LayeredDiskError) {
        let attached = try await Self.attach(configurations)
        try self.init(readOnly: readOnly, attached: attached, configurations: configurations, onCacheFillFailure: onCacheFillFailure)
    }

    /// A stack of layers attached already (every ``DiskLayer`` attaches as
    /// itself), made without suspending: a server makes a guest's disk this
    /// way in the middle of its handshake, over layers other guests share.
    public convenience init(
        readOnly: Bool,
        attachedLayers configurations: [LayerConfiguration],
        onCacheFillFailure: @escaping @Sendable (CacheFillFailure) -> Void = { _ in }
    ) throws(LayeredDiskError) {
        var attached: [any DiskLayer] = []
        for (index, configuration) in configurations.enumerated() {
            guard let layer = configuration.layer as? any DiskLayer else { throw .needsAttaching(layer: index) }
            attached.append(layer)
        }
        try self.init(readOnly: readOnly, attached: attached, configurations: configurations, onCacheFillFailure: onCacheFillFailure)
    }

    private init(
        readOnly: Bool,
        attached: [any DiskLayer],
        configurations: [LayerConfiguration],
        onCacheFillFailure: @escaping @Sendable (CacheFillFailure) -> Void
    ) throws(LayeredDiskError) {
        try Self.check(attached, configurations: configurations)
        let merged = try Self.mergeWritePath(attached, configurations: configurations, readOnly: readOnly)

        var visibleSectorCount = UInt64.max
        layers = zip(attached, configurations).map { layer, configuration in
            visibleSectorCount = min(visibleSectorCount, layer.sectorCount)
            return StackLayer(
                backing: layer,
                readCache: configuration.readCache ? layer as? any WriteNoOverwriteLayer : nil,
                immediate: layer as? any ImmediateReadLayer,
                fileSpanRole: FileSpanRole(of: layer),
                filler: configuration.filler,
                writeThrough: configuration.writeThrough,
                visibleSectorCount: visibleSectorCount
            )
        }
        isReadOnly = readOnly
        sectorSize = attached[0].sectorSize
        physicalSectorSize = attached[0].physicalSectorSize
        diskID = attached.lazy.compactMap(\.diskID).first
        isFUARespected = merged.isFUARespected
        unmapBehavior = merged.unmapBehavior
        optimalUnmapSectors = merged.optimalUnmapSectors
        cacheFillFailureHandler = onCacheFillFailure
    }

    /// The top layer's current sector count; the disk is as large as its top.
    public var sectorCount: UInt64 { layers[0].backing.sectorCount }

    /// How many cache fills have failed since the disk was created.
    public var cacheFillFailureCount: Int { cacheFillFailures.load(ordering: .relaxed) }

    /// Attaches the layers bottom-up, each above the one attached before it,
    /// and returns them top first.
    private static func attach(_ configurations: [LayerConfiguration]) async throws(LayeredDiskError) -> [any DiskLayer] {
        guard !configurations.isEmpty else { throw .noLayers }
        var attached: [any DiskLayer] = []
        var lower: LayerMetadata?
        for index in configurations.indices.reversed() {
            let layer: any DiskLayer
            do {
                layer = try await configurations[index].layer.attach(above: lower)
            } catch {
                throw .attachFailed(layer: index, underlying: error)
            }
            attached.append(layer)
            lower = LayerMetadata(of: layer)
        }
        return attached.reversed()
    }

    /// Checks each attached layer against its configuration and the layers
    /// below it, bottom-up.
    private static func check(_ layers: [any DiskLayer], configurations: [LayerConfiguration]) throws(LayeredDiskError) {
        guard let bottom = layers.last else { throw .noLayers }
        for index in layers.indices.reversed() {
            let configuration = configurations[index]
            let metadata = LayerMetadata(of: layers[index])
            // A read cache with a filler is filled by it, not by the stack.
            if configuration.filler == nil ? configuration.readCache && !metadata.canReadCache : !(layers[index] is any ImmediateReadLayer) {
                throw .readCacheNotSupported(layer: index)
            }
            guard metadata.sectorSize > 0, metadata.sectorSize.nonzeroBitCount == 1 else {
                throw .invalidSectorSize(layer: index, sectorSize: metadata.sectorSize)
            }
            guard metadata.sectorSize == bottom.sectorSize else {
                throw .mismatchedSectorSize(layer: index, expected: bottom.sectorSize, found: metadata.sectorSize)
            }
        }
    }

    /// Walks the write path top-down, rejecting layers that cannot be on it,
    /// and merges the properties the disk reports from the layers written to.
    private static func mergeWritePath(
        _ layers: [any DiskLayer],
        configurations: [LayerConfiguration],
        readOnly: Bool
    ) throws(LayeredDiskError) -> WritePathProperties {
        var merged = WritePathProperties()
        var onWritePath = true
        for (index, (layer, configuration)) in zip(layers, configurations).enumerated() {
            if onWritePath {
                if layer.isLogicallyReadOnly && !readOnly {
                    throw .readOnlyLayerOnWritePath(layer: index)
                }
                merged.include(layer, writeThrough: configuration.writeThrough)
            } else if configuration.writeThrough {
                throw .uselessWriteThrough(layer: index)
            }
            onWritePath = configuration.writeThrough
        }
        if onWritePath {
            throw .uselessWriteThrough(layer: layers.count - 1)
        }
        return merged
    }
}

/// A layer in place in the stack.
///
/// A class, not a struct: every read walks the stack, and each copy of a
/// struct of four references cost four retains and four releases.
final class StackLayer: Sendable {
    let backing: any DiskLayer
    /// The layer, when it is a read cache for the layers below.
    let readCache: (any WriteNoOverwriteLayer)?
    /// The layer, when its reads never suspend.
    let immediate: (any ImmediateReadLayer)?
    let fileSpanRole: FileSpanRole
    /// What brings this read cache what it lacks, if anything does.
    let filler: (any ReadCacheFiller)?
    let writeThrough: Bool
    /// Sectors at or past this read as zeros from this layer down: no layer
    /// above is that small. Unused for the top layer, whose size can change.
    let visibleSectorCount: UInt64

    init(
        backing: any DiskLayer, readCache: (any WriteNoOverwriteLayer)?, immediate: (any ImmediateReadLayer)?, fileSpanRole: FileSpanRole,
        filler: (any ReadCacheFiller)?, writeThrough: Bool, visibleSectorCount: UInt64
    ) {
        self.backing = backing
        self.readCache = readCache
        self.immediate = immediate
        self.fileSpanRole = fileSpanRole
        self.filler = filler
        self.writeThrough = writeThrough
        self.visibleSectorCount = visibleSectorCount
    }
}

/// What a layer is to a read sent straight from a file (``FileSpan``).
enum FileSpanRole: Sendable {
    /// The layer a span comes from, when it holds every sector.
    case source(any FileSpanLayer)
    /// A layer a span passes through where it holds none of the sectors.
    case passThrough(any SparseLayer)
    /// A layer no span reads past: it cannot tell what it holds unread.
    case barrier

    init(of layer: any DiskLayer) {
        if let source = layer as? any FileSpanLayer {
            self = .source(source)
        } else if let sparse = layer as? any SparseLayer {
            self = .passThrough(sparse)
        } else {
            self = .barrier
        }
    }
}
