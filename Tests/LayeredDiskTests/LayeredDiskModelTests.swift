import LayeredDisk
import Testing

/// Thousands of random reads, writes, unmaps and flushes on the stack lazydisk
/// serves (RAM overlay over a read cache over a complete image), checked after
/// every step against a plain byte array.
@Suite("Randomized model check")
struct LayeredDiskModelTests {
    struct Scenario: Sendable, CustomTestStringConvertible {
        var seed: UInt64
        var imageSectors: UInt64
        var overlaySectors: UInt64
        var operations: Int
        var testDescription: String { "seed \(seed), overlay \(overlaySectors) over image \(imageSectors)" }
    }

    @Test(arguments: [
        Scenario(seed: 0x1A2B_3C4D, imageSectors: 96, overlaySectors: 96, operations: 10_000),
        Scenario(seed: 0x5EED, imageSectors: 64, overlaySectors: 96, operations: 10_000),
    ])
    func stackMatchesTheModel(_ scenario: Scenario) async throws {
        var random = SeededGenerator(seed: scenario.seed)
        let image = try SectorPattern.disk(sectorCount: scenario.imageSectors)
        let cache = RAMLayer(sectorCount: scenario.imageSectors)
        let disk = try await LayeredDisk(readOnly: false, layers: [
            LayerConfiguration(RAMLayer(sectorCount: scenario.overlaySectors)),
            LayerConfiguration(cache, readCache: true),
            LayerConfiguration(BlockDeviceLayer(image)),
        ])
        var model = image.bytes + Array(repeating: 0, count: Int(scenario.overlaySectors - scenario.imageSectors) * 512)
        // Reads the overlay and cache serve alone need not wait for the image.
        var immediateReads = 0

        for step in 0..<scenario.operations {
            let sector = UInt64.random(in: 0..<scenario.overlaySectors, using: &random)
            let count = Int.random(in: 1...min(24, Int(scenario.overlaySectors - sector)), using: &random)
            let bytes = Int(sector) * 512..<(Int(sector) + count) * 512
            switch Int.random(in: 0..<100, using: &random) {
            case 0..<40:
                if let immediate = try disk.immediateBytes(at: sector, count: count) {
                    immediateReads += 1
                    #expect(bytesEqual(immediate[...], model[bytes]), "step \(step): immediate read \(count) at \(sector)")
                }
                let read = try await disk.read(at: sector, count: count)
                #expect(bytesEqual(read[...], model[bytes]), "step \(step): read \(count) at \(sector)")
            case 40..<75:
                let data = (0..<bytes.count).map { _ in UInt8.random(in: 0...255, using: &random) }
                try await disk.write(data[...], at: sector, fua: Bool.random(using: &random))
                model.replaceSubrange(bytes, with: data)
            case 75..<90:
                try await disk.unmap(at: sector, count: UInt64(count))
                model.replaceSubrange(bytes, with: repeatElement(0, count: bytes.count))
            default:
                try await disk.flush()
            }
            try await checkAgainstModel(disk, model: model, cache: cache, image: image, step: step)
        }
        #expect(disk.cacheFillFailureCount == 0)
        #expect(immediateReads > scenario.operations / 10)
    }

    /// The whole disk reads as the model, and the cache holds nothing but
    /// image data: guest writes never reach it.
    private func checkAgainstModel(
        _ disk: LayeredDisk, model: [UInt8], cache: RAMLayer, image: InMemoryDisk, step: Int
    ) async throws {
        let whole = try await disk.read(at: 0, count: Int(disk.sectorCount))
        guard bytesEqual(whole[...], model[...]) else {
            Issue.record("step \(step): disk differs from the model")
            throw ModelMismatch()
        }
        var buffer = SectorBuffer(sectors: 0..<cache.sectorCount, sectorSize: 512)
        var marker = SectorMarker(sectors: 0..<cache.sectorCount)
        try await cache.read(into: &buffer, marking: &marker)
        let imageBytes = image.bytes
        for sector in 0..<cache.sectorCount where marker.isMarked(sector) {
            let range = Int(sector) * 512..<Int(sector + 1) * 512
            guard bytesEqual(buffer.bytes[range], imageBytes[range]) else {
                Issue.record("step \(step): cache sector \(sector) differs from the image")
                throw ModelMismatch()
            }
        }
    }

    private struct ModelMismatch: Error {}
}
