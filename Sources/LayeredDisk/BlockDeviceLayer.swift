/// A whole block device used as a layer: every sector is present.
///
/// This is how a complete disk (an in-memory image, a local file, another
/// ``LayeredDisk``) becomes the bottom of a stack.
public struct BlockDeviceLayer: ImmediateReadLayer {
    public let device: any BlockDevice

    public init(_ device: any BlockDevice) {
        self.device = device
    }

    public var layerType: String { "disk" }
    public var sectorCount: UInt64 { device.sectorCount }
    public var sectorSize: Int { device.sectorSize }
    public var diskID: DiskID? { device.diskID }
    public var physicalSectorSize: Int { device.physicalSectorSize }
    public var isFUARespected: Bool { device.isFUARespected }
    public var isLogicallyReadOnly: Bool { device.isReadOnly }
    public var unmapBehavior: UnmapBehavior { device.unmapBehavior }
    public var optimalUnmapSectors: UInt32 { device.optimalUnmapSectors }

    public func read(into buffer: inout SectorBuffer, marking marker: inout SectorMarker) async throws {
        let sectors = buffer.sectors
        let bytes = try await device.read(at: sectors.lowerBound, count: sectors.count)
        buffer.copy(bytes[...], toSector: sectors.lowerBound)
        marker.markAll()
    }

    /// Answers when the device answers without waiting (a decoded image
    /// over a warm cache).
    public func readImmediately(into buffer: inout SectorBuffer, marking marker: inout SectorMarker) throws -> Bool {
        let sectors = buffer.sectors
        guard try buffer.withUnsafeMutableBytes(of: sectors, { try device.readImmediately(at: sectors.lowerBound, count: sectors.count, into: $0) })
        else { return false }
        marker.markAll()
        return true
    }

    public func write(_ bytes: ArraySlice<UInt8>, at sector: UInt64, fua: Bool) async throws {
        try await device.write(bytes, at: sector, fua: fua)
    }

    public func flush() async throws {
        try await device.flush()
    }

    /// A whole device has nothing below it, so `nextIsZero` changes nothing.
    public func unmap(at sector: UInt64, count: UInt64, nextIsZero: Bool) async throws {
        try await device.unmap(at: sector, count: count)
    }
}
