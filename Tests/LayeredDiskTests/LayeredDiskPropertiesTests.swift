import LayeredDisk
import Testing

@Suite("Properties merged across the stack")
struct LayeredDiskPropertiesTests {
    typealias Traits = ProbeLayer.Traits

    private static let idA = DiskID(bytes: Array(1...16))!
    private static let idB = DiskID(bytes: Array(101...116))!

    private func disk(_ top: Traits, _ middle: Traits, topWritesThrough: Bool = true) async throws -> LayeredDisk {
        try await LayeredDisk(readOnly: false, layers: [
            LayerConfiguration(ProbeLayer(top), writeThrough: topWritesThrough),
            LayerConfiguration(ProbeLayer(middle)),
            LayerConfiguration(BlockDeviceLayer(InMemoryDisk(sectorCount: 64, readOnly: true))),
        ])
    }

    @Test func fuaIsRespectedOnlyIfEveryWritePathLayerRespectsIt() async throws {
        #expect(try await disk(Traits(fua: true), Traits(fua: true)).isFUARespected)
        #expect(try await !disk(Traits(fua: true), Traits(fua: false)).isFUARespected)
        #expect(try await disk(Traits(fua: true), Traits(fua: false), topWritesThrough: false).isFUARespected)
    }

    @Test func optimalUnmapIsTheLargestOnTheWritePath() async throws {
        #expect(try await disk(Traits(optimalUnmapSectors: 8), Traits(optimalUnmapSectors: 128)).optimalUnmapSectors == 128)
        #expect(try await disk(Traits(optimalUnmapSectors: 8), Traits(optimalUnmapSectors: 128), topWritesThrough: false)
            .optimalUnmapSectors == 8)
    }

    @Test func diskIDIsTheFirstFoundFromTheTop() async throws {
        #expect(try await disk(Traits(), Traits(diskID: Self.idB)).diskID == Self.idB)
        #expect(try await disk(Traits(diskID: Self.idA), Traits(diskID: Self.idB)).diskID == Self.idA)
        #expect(try await disk(Traits(), Traits(), topWritesThrough: false).diskID == nil)
        #expect(Self.idA.description == "01020304-0506-0708-090a-0b0c0d0e0f10")
    }

    @Test(arguments: [
        (UnmapBehavior.zeroes, UnmapBehavior.zeroes, true, UnmapBehavior.zeroes),
        (.zeroes, .unspecified, true, .ignored),
        (.unspecified, .zeroes, true, .ignored),
        (.zeroes, .ignored, true, .ignored),
        (.zeroes, .unspecified, false, .zeroes),
        (.unspecified, .zeroes, false, .unspecified),
        (.ignored, .zeroes, false, .ignored),
    ])
    func unmapBehaviorMerges(top: UnmapBehavior, middle: UnmapBehavior, writeThrough: Bool, expected: UnmapBehavior) async throws {
        let merged = try await disk(Traits(unmapBehavior: top), Traits(unmapBehavior: middle), topWritesThrough: writeThrough)
        #expect(merged.unmapBehavior == expected)
    }

    @Test func geometryComesFromTheTop() async throws {
        let merged = try await disk(Traits(sectorCount: 80), Traits(sectorCount: 64))
        #expect(merged.sectorSize == 512)
        #expect(merged.sectorCount == 80)
        #expect(merged.physicalSectorSize == 4096)
    }
}
