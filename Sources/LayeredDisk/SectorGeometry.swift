/// The shape of a disk (sector size and count) and the checks every request
/// must pass against it.
///
/// Devices and layers share this one implementation so that range arithmetic
/// is overflow-checked in exactly one place.
public struct SectorGeometry: Sendable, Hashable {
    /// Bytes per logical sector; a power of two.
    public var sectorSize: Int
    /// Number of sectors on the device.
    public var sectorCount: UInt64

    public init(sectorSize: Int, sectorCount: UInt64) {
        self.sectorSize = sectorSize
        self.sectorCount = sectorCount
    }

    /// The size of the device in bytes, or `nil` when it does not fit in 64 bits.
    public var byteCount: UInt64? {
        let (bytes, overflow) = sectorCount.multipliedReportingOverflow(by: UInt64(sectorSize))
        return overflow ? nil : bytes
    }

    /// The sectors `sector ..< sector + count`, if they all lie on the device.
    public func sectors(at sector: UInt64, count: Int) throws(DiskError) -> Range<UInt64> {
        guard count >= 0 else { throw .invalidCount(count) }
        return try sectors(at: sector, count: UInt64(count))
    }

    /// The sectors `sector ..< sector + count`, if they all lie on the device.
    public func sectors(at sector: UInt64, count: UInt64) throws(DiskError) -> Range<UInt64> {
        let (end, overflow) = sector.addingReportingOverflow(count)
        guard !overflow, end <= sectorCount else {
            throw .outOfRange(sector: sector, count: count, sectorCount: sectorCount)
        }
        return sector..<end
    }

    /// The sectors covered by `byteCount` bytes starting at `sector`, if the
    /// length is a whole number of sectors and they all lie on the device.
    public func sectors(at sector: UInt64, byteCount: Int) throws(DiskError) -> Range<UInt64> {
        guard byteCount >= 0, byteCount % sectorSize == 0 else {
            throw .unalignedLength(byteCount: byteCount, sectorSize: sectorSize)
        }
        return try sectors(at: sector, count: byteCount / sectorSize)
    }
}
