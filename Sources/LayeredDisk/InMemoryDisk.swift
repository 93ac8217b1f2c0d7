import Synchronization

/// A complete disk held in memory, for tests, examples and small fixtures.
public final class InMemoryDisk: BlockDevice {
    public let sectorSize: Int
    public let sectorCount: UInt64
    public let isReadOnly: Bool
    public let diskID: DiskID?
    public var physicalSectorSize: Int { sectorSize }
    public var isFUARespected: Bool { true }
    /// Unmapped sectors are zeroed.
    public var unmapBehavior: UnmapBehavior { .zeroes }

    private let contents: Mutex<[UInt8]>

    /// A disk holding `bytes`, which must be a whole number of sectors.
    public convenience init(bytes: [UInt8], sectorSize: Int = 512, readOnly: Bool = false, diskID: DiskID? = nil) throws(DiskError) {
        guard sectorSize > 0, bytes.count % sectorSize == 0 else {
            throw .unalignedLength(byteCount: bytes.count, sectorSize: sectorSize)
        }
        self.init(wholeSectors: bytes, sectorSize: sectorSize, readOnly: readOnly, diskID: diskID)
    }

    /// A zero-filled disk of `sectorCount` sectors.
    public convenience init(sectorCount: Int, sectorSize: Int = 512, readOnly: Bool = false) {
        self.init(wholeSectors: Array(repeating: 0, count: sectorCount * sectorSize), sectorSize: sectorSize, readOnly: readOnly, diskID: nil)
    }

    private init(wholeSectors bytes: [UInt8], sectorSize: Int, readOnly: Bool, diskID: DiskID?) {
        self.sectorSize = sectorSize
        sectorCount = UInt64(bytes.count / sectorSize)
        isReadOnly = readOnly
        self.diskID = diskID
        contents = Mutex(bytes)
    }

    /// A copy of the whole disk.
    public var bytes: [UInt8] { contents.withLock { $0 } }

    public func read(at sector: UInt64, count: Int) async throws -> [UInt8] {
        let range = try byteRange(of: geometry.sectors(at: sector, count: count))
        return contents.withLock { Array($0[range]) }
    }

    /// Memory never makes a read wait.
    public func readImmediately(at sector: UInt64, count: Int, into target: UnsafeMutableRawBufferPointer) throws -> Bool {
        let range = try byteRange(of: geometry.sectors(at: sector, count: count))
        contents.withLock { bytes in bytes[range].withUnsafeBytes { target.copyMemory(from: $0) } }
        return true
    }

    public func write(_ bytes: ArraySlice<UInt8>, at sector: UInt64, fua: Bool) async throws {
        guard !isReadOnly else { throw DiskError.readOnly }
        let range = try byteRange(of: geometry.sectors(at: sector, byteCount: bytes.count))
        contents.withLock { $0.replaceSubrange(range, with: bytes) }
    }

    public func flush() async throws {}

    public func unmap(at sector: UInt64, count: UInt64) async throws {
        guard !isReadOnly else { throw DiskError.readOnly }
        let range = try byteRange(of: geometry.sectors(at: sector, count: count))
        contents.withLock { $0.replaceSubrange(range, with: repeatElement(0, count: range.count)) }
    }

    private func byteRange(of sectors: Range<UInt64>) -> Range<Int> {
        Int(sectors.lowerBound) * sectorSize..<Int(sectors.upperBound) * sectorSize
    }
}
