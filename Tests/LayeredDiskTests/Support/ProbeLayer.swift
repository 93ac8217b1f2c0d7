import LayeredDisk
import Synchronization

/// A RAM-backed layer whose reported properties a test chooses, and which
/// records the calls it receives, to check what the stack sends each layer.
final class ProbeLayer: WriteNoOverwriteLayer {
    struct Traits: Sendable {
        var sectorSize = 512
        var sectorCount: UInt64 = 64
        var readOnly = false
        var fua = false
        var unmapBehavior = UnmapBehavior.unspecified
        var optimalUnmapSectors: UInt32 = 1
        var diskID: DiskID?
        var failsCacheFills = false
        /// Awaited after every read has copied its data, to hold a read in
        /// flight with the data it saw.
        var afterRead: (@Sendable () async -> Void)?
    }

    struct Unmap: Equatable, Sendable {
        var sectors: Range<UInt64>
        var nextIsZero: Bool
    }

    struct CacheFillRefused: Error {}

    let traits: Traits
    let storage: RAMLayer
    private let calls = Mutex<(reads: [Range<UInt64>], unmaps: [Unmap], writes: Int, flushes: Int)>(([], [], 0, 0))

    init(_ traits: Traits = Traits()) {
        self.traits = traits
        storage = RAMLayer(sectorCount: traits.sectorCount, sectorSize: max(traits.sectorSize, 1))
    }

    /// A probe whose every sector holds its ``SectorPattern``, as a complete
    /// image below a cache would.
    static func filled(_ traits: Traits) async throws -> ProbeLayer {
        let layer = ProbeLayer(traits)
        let bytes = SectorPattern.bytes(sectors: 0..<traits.sectorCount, sectorSize: traits.sectorSize)
        try await layer.storage.write(bytes[...], at: 0, fua: false)
        return layer
    }

    /// The runs of sectors each read asked for, in order.
    var reads: [Range<UInt64>] { calls.withLock(\.reads) }
    var unmaps: [Unmap] { calls.withLock(\.unmaps) }
    var writeCount: Int { calls.withLock(\.writes) }
    var flushCount: Int { calls.withLock(\.flushes) }

    var layerType: String { "probe" }
    var sectorCount: UInt64 { traits.sectorCount }
    var sectorSize: Int { traits.sectorSize }
    var diskID: DiskID? { traits.diskID }
    var physicalSectorSize: Int { 4096 }
    var isFUARespected: Bool { traits.fua }
    var isLogicallyReadOnly: Bool { traits.readOnly }
    var unmapBehavior: UnmapBehavior { traits.unmapBehavior }
    var optimalUnmapSectors: UInt32 { traits.optimalUnmapSectors }

    func read(into buffer: inout SectorBuffer, marking marker: inout SectorMarker) async throws {
        calls.withLock { $0.reads.append(buffer.sectors) }
        try await storage.read(into: &buffer, marking: &marker)
        await traits.afterRead?()
    }

    func write(_ bytes: ArraySlice<UInt8>, at sector: UInt64, fua: Bool) async throws {
        calls.withLock { $0.writes += 1 }
        try await storage.write(bytes, at: sector, fua: fua)
    }

    func writeNoOverwrite(_ bytes: ArraySlice<UInt8>, at sector: UInt64) async throws {
        if traits.failsCacheFills { throw CacheFillRefused() }
        try await storage.writeNoOverwrite(bytes, at: sector)
    }

    func flush() async throws {
        calls.withLock { $0.flushes += 1 }
    }

    func unmap(at sector: UInt64, count: UInt64, nextIsZero: Bool) async throws {
        calls.withLock { $0.unmaps.append(Unmap(sectors: sector..<sector + count, nextIsZero: nextIsZero)) }
        try await storage.unmap(at: sector, count: count, nextIsZero: nextIsZero)
    }
}
