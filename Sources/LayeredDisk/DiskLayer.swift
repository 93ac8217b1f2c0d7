/// One layer of a ``LayeredDisk``: sectors that may or may not be present.
///
/// A layer is a block device with one addition: a read reports which sectors
/// it actually holds (through a ``SectorMarker``), so the disk can ask the
/// layers below for the rest. Sector size, physical sector size, disk id and
/// FUA behaviour must not change after the layer is attached.
public protocol DiskLayer: AttachableLayer {
    /// A short name for diagnostics ("ram", "file-cache", "http").
    var layerType: String { get }
    /// The current number of sectors; may change only for a resizable top layer.
    var sectorCount: UInt64 { get }
    /// Bytes per logical sector; a power of two.
    var sectorSize: Int { get }
    /// A stable identifier the guest may see, if the layer has a natural one.
    var diskID: DiskID? { get }
    /// The sector size the backing store works in.
    var physicalSectorSize: Int { get }
    /// Whether a write with `fua` set is durable when it completes.
    var isFUARespected: Bool { get }
    /// Whether ordinary writes are refused. A logically read-only layer may
    /// still accept ``WriteNoOverwriteLayer/writeNoOverwrite(_:at:)`` so it can
    /// serve as a read cache.
    var isLogicallyReadOnly: Bool { get }
    /// What reads return after an unmap.
    var unmapBehavior: UnmapBehavior { get }
    /// The unmap granularity, in sectors, that the layer handles best.
    var optimalUnmapSectors: UInt32 { get }

    /// Copies the sectors of `buffer.sectors` that this layer holds into
    /// `buffer` and marks each one in `marker`; the two are focused on the
    /// same run. Unmarked sectors fall through to the layers below. Every
    /// byte of a marked sector must be written: the buffer may be memory a
    /// server is about to send, with whatever it held before.
    func read(into buffer: inout SectorBuffer, marking marker: inout SectorMarker) async throws
    /// Writes whole sectors starting at `sector`; with `fua`, durably when
    /// ``isFUARespected``.
    func write(_ bytes: ArraySlice<UInt8>, at sector: UInt64, fua: Bool) async throws
    /// Makes every completed write durable.
    func flush() async throws
    /// Drops `count` sectors at `sector`. When `nextIsZero` is true the layers
    /// below read as zeros there, so the layer may simply forget the sectors
    /// instead of storing zeros.
    func unmap(at sector: UInt64, count: UInt64, nextIsZero: Bool) async throws
}

extension DiskLayer {
    /// The layer's sector size and count, for checking requests.
    public var geometry: SectorGeometry {
        SectorGeometry(sectorSize: sectorSize, sectorCount: sectorCount)
    }

    public var diskID: DiskID? { nil }
    public var optimalUnmapSectors: UInt32 { 1 }

    /// A layer that needs nothing from the layer below attaches as itself.
    public func attach(above lower: LayerMetadata?) async throws -> any DiskLayer {
        self
    }
}
