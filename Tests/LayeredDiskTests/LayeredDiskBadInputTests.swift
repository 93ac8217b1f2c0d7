import LayeredDisk
import Testing

@Suite("Bad requests are errors, not crashes")
struct LayeredDiskBadInputTests {
    private func writableDisk() async throws -> LayeredDisk {
        try await LayeredDisk(readOnly: false, layers: [
            LayerConfiguration(RAMLayer.sizedToLowerLayer),
            LayerConfiguration(BlockDeviceLayer(try SectorPattern.disk(sectorCount: 64))),
        ])
    }

    @Test func readPastTheEnd() async throws {
        let disk = try await writableDisk()
        await #expect(throws: DiskError.outOfRange(sector: 60, count: 5, sectorCount: 64)) {
            try await disk.read(at: 60, count: 5)
        }
        await #expect(throws: DiskError.outOfRange(sector: 65, count: 0, sectorCount: 64)) {
            try await disk.read(at: 65, count: 0)
        }
        #expect(try await disk.read(at: 64, count: 0).isEmpty)
        #expect(try await disk.read(at: 63, count: 1) == SectorPattern.bytes(sector: 63))
    }

    @Test func sectorPlusCountOverflow() async throws {
        let disk = try await writableDisk()
        await #expect(throws: DiskError.outOfRange(sector: .max, count: 2, sectorCount: 64)) {
            try await disk.read(at: .max, count: 2)
        }
        await #expect(throws: DiskError.outOfRange(sector: .max - 1, count: 3, sectorCount: 64)) {
            try await disk.unmap(at: .max - 1, count: 3)
        }
        await #expect(throws: DiskError.invalidCount(-1)) {
            try await disk.read(at: 0, count: -1)
        }
    }

    @Test func bufferThatIsNotWholeSectors() async throws {
        let disk = try await writableDisk()
        await #expect(throws: DiskError.unalignedLength(byteCount: 513, sectorSize: 512)) {
            try await disk.write(ArraySlice(repeating: 1, count: 513), at: 0, fua: false)
        }
        #expect(try await disk.read(at: 0, count: 2) == SectorPattern.bytes(sectors: 0..<2))
    }

    @Test func writeAndUnmapOnAReadOnlyDisk() async throws {
        let disk = try await LayeredDisk(readOnly: true, layers: [
            LayerConfiguration(BlockDeviceLayer(try SectorPattern.disk(sectorCount: 8))),
        ])
        await #expect(throws: DiskError.readOnly) {
            try await disk.write(ArraySlice(repeating: 1, count: 512), at: 0, fua: false)
        }
        await #expect(throws: DiskError.readOnly) {
            try await disk.unmap(at: 0, count: 1)
        }
        try await disk.flush()
        #expect(try await disk.read(at: 0, count: 8) == SectorPattern.bytes(sectors: 0..<8))
    }

    /// A write-through top larger than the layer below reaches past that
    /// layer's end: the lower layer refuses it rather than trapping.
    @Test func writeThroughPastTheLowerLayersEnd() async throws {
        let disk = try await LayeredDisk(readOnly: false, layers: [
            LayerConfiguration(RAMLayer(sectorCount: 100), writeThrough: true),
            LayerConfiguration(RAMLayer(sectorCount: 50)),
        ])
        await #expect(throws: DiskError.outOfRange(sector: 80, count: 1, sectorCount: 50)) {
            try await disk.write(ArraySlice(repeating: 1, count: 512), at: 80, fua: false)
        }
    }

    @Test func inMemoryDiskRejectsPartialSectors() {
        #expect(throws: DiskError.unalignedLength(byteCount: 1000, sectorSize: 512)) {
            try InMemoryDisk(bytes: Array(repeating: 0, count: 1000))
        }
    }
}
