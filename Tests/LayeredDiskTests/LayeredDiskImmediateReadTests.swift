import LayeredDisk
import Testing

@Suite("Reads that need no waiting")
struct LayeredDiskImmediateReadTests {
    @Test func layersThatNeverWaitServeAReadAtOnce() async throws {
        let overlay = RAMLayer(sectorCount: 64)
        let cache = RAMLayer(sectorCount: 64)
        let disk = try await LayeredDisk(readOnly: false, layers: [
            LayerConfiguration(overlay),
            LayerConfiguration(cache, readCache: true),
            LayerConfiguration(try await ProbeLayer.filled(.init(sectorCount: 64, readOnly: true))),
        ])
        let written = SectorPattern.bytes(sectors: 4..<6, generation: 1)
        try await disk.write(written[...], at: 4, fua: false)
        try await cache.writeNoOverwrite(SectorPattern.bytes(sectors: 0..<8)[...], at: 0)

        let bytes = try #require(try disk.immediateBytes(at: 2, count: 6))
        #expect(bytes == SectorPattern.bytes(sectors: 2..<4) + written + SectorPattern.bytes(sectors: 6..<8))
    }

    /// A layer that may wait (the HTTP layer, here a probe) is left to the
    /// ordinary read, and so is a read whose cache fill is still to be done.
    @Test func aReadThatNeedsAWaitingLayerOrACacheFillIsLeftToRead() async throws {
        let cache = RAMLayer(sectorCount: 64)
        let image = try await ProbeLayer.filled(.init(sectorCount: 64, readOnly: true))
        let disk = try await LayeredDisk(readOnly: true, layers: [
            LayerConfiguration(cache, readCache: true),
            LayerConfiguration(image),
        ])
        #expect(try disk.immediateBytes(at: 8, count: 4) == nil)
        #expect(image.reads.isEmpty)

        #expect(try await disk.read(at: 8, count: 4) == SectorPattern.bytes(sectors: 8..<12))
        #expect(try disk.immediateBytes(at: 8, count: 4) == SectorPattern.bytes(sectors: 8..<12))
        #expect(try disk.immediateBytes(at: 8, count: 5) == nil)
        #expect(image.reads == [8..<12])
    }

    /// The read goes into memory that held something else; what no layer
    /// holds must come back as zeros all the same.
    @Test func sectorsNoLayerHoldsReadAsZerosInLentMemory() async throws {
        let overlay = RAMLayer(sectorCount: 16)
        let disk = try await LayeredDisk(readOnly: false, layers: [
            LayerConfiguration(overlay),
            LayerConfiguration(RAMLayer(sectorCount: 16)),
        ])
        let written = SectorPattern.bytes(sectors: 3..<4)
        try await disk.write(written[...], at: 3, fua: false)
        let bytes = try #require(try disk.immediateBytes(at: 0, count: 8))
        #expect(bytes == Array(repeating: 0, count: 3 * 512) + written + Array(repeating: 0, count: 4 * 512))
    }

    @Test func anImmediateReadIsCheckedLikeAnyOther() async throws {
        let disk = try await LayeredDisk(readOnly: false, layers: [LayerConfiguration(RAMLayer(sectorCount: 16))])
        #expect(throws: DiskError.self) { try disk.immediateBytes(at: 10, count: 8) }
    }

    /// An observed disk shows a read served at once to its observers once,
    /// and one left to the ordinary read only when that read happens; each
    /// is finished once it has its bytes, and a failed one never is.
    @Test func observersSeeEachReadOnce() async throws {
        let recorder = ReadRecorder()
        let cache = RAMLayer(sectorCount: 64)
        let disk = ObservedDisk(try await LayeredDisk(readOnly: true, layers: [
            LayerConfiguration(cache, readCache: true),
            LayerConfiguration(try await ProbeLayer.filled(.init(sectorCount: 64, readOnly: true))),
        ]), observers: [recorder])

        #expect(try disk.immediateBytes(at: 0, count: 2) == nil)
        _ = try await disk.read(at: 0, count: 2)
        _ = try #require(try disk.immediateBytes(at: 0, count: 2))
        #expect(recorder.reads == [0..<1024, 0..<1024])
        #expect(recorder.finished == [0..<1024, 0..<1024])

        await #expect(throws: (any Error).self) { _ = try await disk.read(at: 63, count: 2) }
        #expect(recorder.reads == [0..<1024, 0..<1024, 63 * 512..<64 * 512])
        #expect(recorder.finished == [0..<1024, 0..<1024], "a failed read is not finished")
    }
}
