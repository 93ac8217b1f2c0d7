/// A block device that shows every read to observers, then passes every
/// request to the device underneath unchanged.
public struct ObservedDisk<Base: BlockDevice>: BlockDevice {
    public let base: Base
    public let observers: [any ReadObserver]

    public init(_ base: Base, observers: [any ReadObserver]) {
        self.base = base
        self.observers = observers
    }

    public var sectorSize: Int { base.sectorSize }
    public var sectorCount: UInt64 { base.sectorCount }
    public var diskID: DiskID? { base.diskID }
    public var physicalSectorSize: Int { base.physicalSectorSize }
    public var isFUARespected: Bool { base.isFUARespected }
    public var isReadOnly: Bool { base.isReadOnly }
    public var unmapBehavior: UnmapBehavior { base.unmapBehavior }
    public var optimalUnmapSectors: UInt32 { base.optimalUnmapSectors }

    public func read(at sector: UInt64, count: Int) async throws -> [UInt8] {
        observeRead(at: sector, count: count)
        return try await base.read(at: sector, count: count)
    }

    public func read(at sector: UInt64, count: Int, into destination: inout some ReadDestination) async throws {
        observeRead(at: sector, count: count)
        try await base.read(at: sector, count: count, into: &destination)
    }

    /// Shows the read only when it is served here: one that returns false
    /// comes back through ``read(at:count:)`` and is shown there.
    public func readImmediately(at sector: UInt64, count: Int, into target: UnsafeMutableRawBufferPointer) throws -> Bool {
        guard try base.readImmediately(at: sector, count: count, into: target) else { return false }
        observeRead(at: sector, count: count)
        return true
    }

    public func write(_ bytes: ArraySlice<UInt8>, at sector: UInt64, fua: Bool) async throws {
        try await base.write(bytes, at: sector, fua: fua)
    }

    public func flush() async throws {
        try await base.flush()
    }

    public func unmap(at sector: UInt64, count: UInt64) async throws {
        try await base.unmap(at: sector, count: count)
    }

    private func observeRead(at sector: UInt64, count: Int) {
        guard count > 0, sector < sectorCount else { return }
        let size = UInt64(sectorSize)
        let end = sectorCount - sector > UInt64(count) ? sector + UInt64(count) : sectorCount
        for observer in observers {
            observer.observeRead(sector * size..<end * size)
        }
    }
}
