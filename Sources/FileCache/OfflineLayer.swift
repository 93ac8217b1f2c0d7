import LayeredDisk

/// The bottom of an `--offline` stack: it stands where the remote image would
/// be and refuses every read, so a cache miss is a clear error rather than
/// zeros.
public struct OfflineLayer: ImmediateReadLayer {
    public let sectorCount: UInt64
    public let sectorSize: Int

    public init(sectorCount: UInt64, sectorSize: Int) {
        self.sectorCount = sectorCount
        self.sectorSize = sectorSize
    }

    public var layerType: String { "offline" }
    public var physicalSectorSize: Int { 4096 }
    public var isFUARespected: Bool { false }
    public var isLogicallyReadOnly: Bool { true }
    public var unmapBehavior: UnmapBehavior { .ignored }

    public func readImmediately(into buffer: inout SectorBuffer, marking marker: inout SectorMarker) throws -> Bool {
        throw CacheFileError.notCached(sectors: buffer.sectors)
    }

    public func write(_ bytes: ArraySlice<UInt8>, at sector: UInt64, fua: Bool) async throws {
        throw DiskError.readOnly
    }

    public func flush() async throws {}

    public func unmap(at sector: UInt64, count: UInt64, nextIsZero: Bool) async throws {
        throw DiskError.readOnly
    }
}
