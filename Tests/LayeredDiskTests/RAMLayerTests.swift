import LayeredDisk
import Testing

@Suite("RAM layer")
struct RAMLayerTests {
    @Test func holdsOnlyWhatWasWritten() async throws {
        let layer = RAMLayer(sectorCount: 1_000_000)
        let data = SectorPattern.bytes(sectors: 62..<67)
        try await layer.write(data[...], at: 62, fua: false)
        #expect(layer.presentSectorCount == 5)

        var buffer = SectorBuffer(sectors: 60..<70, sectorSize: 512)
        var marker = SectorMarker(sectors: 60..<70)
        try await layer.read(into: &buffer, marking: &marker)
        #expect(marker.unmarkedRuns() == [60..<62, 67..<70])
        #expect(buffer[62..<67].elementsEqual(data))
    }

    @Test func writeNoOverwriteKeepsPresentSectors() async throws {
        let layer = RAMLayer(sectorCount: 16)
        let first = SectorPattern.bytes(sector: 4, generation: 1)
        try await layer.write(first[...], at: 4, fua: false)
        try await layer.writeNoOverwrite(SectorPattern.bytes(sectors: 3..<6, generation: 2)[...], at: 3)
        #expect(try await layer.readAll(3..<6)
            == SectorPattern.bytes(sector: 3, generation: 2) + first + SectorPattern.bytes(sector: 5, generation: 2))
    }

    @Test func sizesItselfFromTheLayerBelow() async throws {
        let disk = try await LayeredDisk(readOnly: false, layers: [
            LayerConfiguration(RAMLayer.sizedToLowerLayer),
            LayerConfiguration(BlockDeviceLayer(InMemoryDisk(sectorCount: 12, sectorSize: 4096, readOnly: true))),
        ])
        #expect(disk.sectorCount == 12)
        #expect(disk.sectorSize == 4096)
    }

    @Test func unmapWithoutNextIsZeroStoresZeros() async throws {
        let layer = RAMLayer(sectorCount: 16)
        try await layer.unmap(at: 2, count: 3, nextIsZero: false)
        #expect(layer.presentSectorCount == 3)
        try await layer.unmap(at: 0, count: 16, nextIsZero: true)
        #expect(layer.presentSectorCount == 0)
    }

    /// The limit counts the 32 KiB groups the layer allocates; a write that
    /// needs one more group than is left is refused whole, and what the
    /// layer holds stays readable.
    @Test func writesPastTheLimitAreRefusedWhole() async throws {
        let layer = RAMLayer(sectorCount: 1024, limitBytes: 64 << 10)
        try await layer.write(ArraySlice(repeating: 1, count: 512), at: 0, fua: false)
        try await layer.write(ArraySlice(repeating: 2, count: 512), at: 64, fua: false)
        #expect(layer.allocatedBytes == 64 << 10)
        await #expect(throws: DiskError.noSpace(limitBytes: 64 << 10)) {
            try await layer.write(ArraySlice(repeating: 3, count: 1024), at: 127, fua: false)
        }
        #expect(layer.presentSectorCount == 2)
        try await layer.write(ArraySlice(repeating: 4, count: 512), at: 63, fua: false)
        await #expect(throws: DiskError.noSpace(limitBytes: 64 << 10)) {
            try await layer.unmap(at: 128, count: 896, nextIsZero: false)
        }
        try await layer.unmap(at: 128, count: 896, nextIsZero: true)
        #expect(layer.presentSectorCount == 3)
    }

    /// Two overlays drawing on one budget of two 32 KiB groups: the third
    /// group fails in whichever layer asks, and comes back when a layer
    /// forgets a group or goes away.
    @Test func layersSharingABudgetStayUnderIt() async throws {
        let budget = MemoryBudget(limitBytes: 2 * 64 * 512)
        let first = RAMLayer(sectorCount: 1024, budget: budget)
        var second: RAMLayer? = RAMLayer(sectorCount: 1024, budget: budget)
        try await first.write(SectorPattern.bytes(sectors: 0..<64)[...], at: 0, fua: false)
        try await second?.write(SectorPattern.bytes(sectors: 0..<1)[...], at: 0, fua: false)
        await #expect(throws: DiskError.noSpace(limitBytes: 2 * 64 * 512)) {
            try await first.write(SectorPattern.bytes(sectors: 64..<65)[...], at: 64, fua: false)
        }
        #expect(budget.usedBytes == 2 * 64 * 512)
        try await first.unmap(at: 0, count: 64, nextIsZero: true)
        try await second?.write(SectorPattern.bytes(sectors: 64..<65)[...], at: 64, fua: false)
        second = nil
        #expect(budget.usedBytes == 0)
        try await first.write(SectorPattern.bytes(sectors: 128..<256)[...], at: 128, fua: false)
        #expect(budget.usedBytes == 2 * 64 * 512)
    }
}
