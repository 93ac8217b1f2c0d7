import LayeredDisk
import Testing

@Suite("Visible sector counts")
struct LayeredDiskVisibleSectorTests {
    /// A top layer larger than the image below: sectors past the image read as
    /// zeros (the reference computes `end - start` here without a check).
    @Test func largerTopReadsZerosPastTheLayerBelow() async throws {
        let image = try SectorPattern.disk(sectorCount: 60)
        let disk = try await LayeredDisk(readOnly: false, layers: [
            LayerConfiguration(RAMLayer(sectorCount: 100)),
            LayerConfiguration(BlockDeviceLayer(image)),
        ])
        #expect(disk.sectorCount == 100)

        let all = try await disk.read(at: 0, count: 100)
        #expect(all[..<(60 * 512)].elementsEqual(SectorPattern.bytes(sectors: 0..<60)))
        #expect(all[(60 * 512)...].allSatisfy { $0 == 0 })

        #expect(try await disk.read(at: 70, count: 10) == Array(repeating: 0, count: 10 * 512))
        #expect(try await disk.read(at: 99, count: 1) == Array(repeating: 0, count: 512))

        let written = SectorPattern.bytes(sectors: 58..<62, generation: 1)
        try await disk.write(written[...], at: 58, fua: false)
        #expect(try await disk.read(at: 57, count: 6)
            == SectorPattern.bytes(sector: 57) + written + Array(repeating: 0, count: 512))
    }

    /// A layer's visible count is the smallest size at or above it: a small
    /// middle layer hides the bottom layer's sectors past it.
    @Test func smallMiddleLayerHidesTheBottomPastIt() async throws {
        let bottom = try await ProbeLayer.filled(.init(sectorCount: 80, readOnly: true))
        let middle = RAMLayer(sectorCount: 40)
        let disk = try await LayeredDisk(readOnly: false, layers: [
            LayerConfiguration(RAMLayer(sectorCount: 100)),
            LayerConfiguration(middle, readCache: true),
            LayerConfiguration(bottom),
        ])

        let bytes = try await disk.read(at: 30, count: 20)
        #expect(bytes[..<(10 * 512)].elementsEqual(SectorPattern.bytes(sectors: 30..<40)))
        #expect(bytes[(10 * 512)...].allSatisfy { $0 == 0 })
        #expect(bottom.reads == [30..<40])
        #expect(middle.presentSectorCount == 10)
    }

    /// A run past a small layer's size must not end the read for the runs
    /// before it: the layers below still supply those.
    @Test func runPastASmallLayerLeavesEarlierRunsToTheLayersBelow() async throws {
        let top = RAMLayer(sectorCount: 100)
        let bottom = try await ProbeLayer.filled(.init(sectorCount: 80, readOnly: true))
        let disk = try await LayeredDisk(readOnly: false, layers: [
            LayerConfiguration(top),
            LayerConfiguration(RAMLayer(sectorCount: 40)),
            LayerConfiguration(bottom),
        ])
        let written = SectorPattern.bytes(sectors: 35..<45, generation: 1)
        try await disk.write(written[...], at: 35, fua: false)

        let bytes = try await disk.read(at: 30, count: 20)
        #expect(bytes == SectorPattern.bytes(sectors: 30..<35) + written + Array(repeating: 0, count: 5 * 512))
        #expect(bottom.reads == [30..<35])
    }

    @Test func readEntirelyPastTheLowerLayersAsksNothingOfThem() async throws {
        let bottom = try await ProbeLayer.filled(.init(sectorCount: 10, readOnly: true))
        let disk = try await LayeredDisk(readOnly: true, layers: [
            LayerConfiguration(ProbeLayer(.init(sectorCount: 20))),
            LayerConfiguration(bottom),
        ])
        #expect(try await disk.read(at: 12, count: 8) == Array(repeating: 0, count: 8 * 512))
        #expect(bottom.reads.isEmpty)
    }
}
