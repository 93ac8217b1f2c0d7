import LayeredDisk
import Testing

@Suite("Write path: writes, flush and unmap")
struct LayeredDiskWritePathTests {
    @Test func writeThroughReachesBothLayersButNotTheImage() async throws {
        let top = ProbeLayer(.init(sectorCount: 64))
        let middle = ProbeLayer(.init(sectorCount: 64))
        let image = try await ProbeLayer.filled(.init(sectorCount: 64, readOnly: true))
        let disk = try await LayeredDisk(readOnly: false, layers: [
            LayerConfiguration(top, writeThrough: true),
            LayerConfiguration(middle),
            LayerConfiguration(image),
        ])

        let data = SectorPattern.bytes(sectors: 3..<7, generation: 9)
        try await disk.write(data[...], at: 3, fua: true)
        try await disk.flush()

        for layer in [top, middle] {
            #expect(layer.writeCount == 1)
            #expect(layer.flushCount == 1)
            #expect(try await layer.storage.readAll(3..<7) == data)
        }
        #expect(image.writeCount == 0)
        #expect(image.flushCount == 0)
        #expect(try await disk.read(at: 3, count: 4) == data)
    }

    /// Unmap tells each layer whether the layer below reads as zeros there:
    /// only past the lower layer's visible sector count, or at the bottom.
    @Test func unmapPassesNextIsZeroDownTheWritePath() async throws {
        let top = ProbeLayer(.init(sectorCount: 100, unmapBehavior: .zeroes))
        let middle = ProbeLayer(.init(sectorCount: 100, unmapBehavior: .zeroes))
        let image = try await ProbeLayer.filled(.init(sectorCount: 60, readOnly: true))
        let disk = try await LayeredDisk(readOnly: false, layers: [
            LayerConfiguration(top, writeThrough: true),
            LayerConfiguration(middle),
            LayerConfiguration(image),
        ])
        #expect(disk.unmapBehavior == .zeroes)

        try await disk.unmap(at: 10, count: 5)
        try await disk.unmap(at: 70, count: 5)

        #expect(top.unmaps == [.init(sectors: 10..<15, nextIsZero: false), .init(sectors: 70..<75, nextIsZero: false)])
        #expect(middle.unmaps == [.init(sectors: 10..<15, nextIsZero: false), .init(sectors: 70..<75, nextIsZero: true)])
        #expect(image.unmaps.isEmpty)
    }

    @Test func unmapOverAnImageReadsZerosWithoutAndForgetsWithNextIsZero() async throws {
        let overlay = RAMLayer(sectorCount: 100)
        let disk = try await LayeredDisk(readOnly: false, layers: [
            LayerConfiguration(overlay),
            LayerConfiguration(BlockDeviceLayer(try SectorPattern.disk(sectorCount: 60))),
        ])
        let data = SectorPattern.bytes(sectors: 50..<80, generation: 2)
        try await disk.write(data[...], at: 50, fua: false)
        #expect(overlay.presentSectorCount == 30)

        // Below sector 60 the image has data, so the overlay must store zeros.
        try await disk.unmap(at: 50, count: 10)
        #expect(overlay.presentSectorCount == 30)
        // Past it the image reads as zeros, so the overlay just forgets.
        try await disk.unmap(at: 60, count: 20)
        #expect(overlay.presentSectorCount == 10)

        #expect(try await disk.read(at: 45, count: 40)
            == SectorPattern.bytes(sectors: 45..<50) + Array(repeating: 0, count: 35 * 512))
    }

    @Test func ignoredUnmapChangesNothing() async throws {
        let top = ProbeLayer(.init(sectorCount: 16, unmapBehavior: .ignored))
        let disk = try await LayeredDisk(readOnly: false, layers: [LayerConfiguration(top)])
        try await disk.write(SectorPattern.bytes(sector: 1)[...], at: 1, fua: false)
        try await disk.unmap(at: 0, count: 16)
        #expect(top.unmaps.isEmpty)
        #expect(try await disk.read(at: 1, count: 1) == SectorPattern.bytes(sector: 1))
    }
}
