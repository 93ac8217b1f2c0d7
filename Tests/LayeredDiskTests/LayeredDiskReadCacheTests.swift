import LayeredDisk
import Testing

@Suite("Read cache population")
struct LayeredDiskReadCacheTests {
    /// The reference's scenario: a cache over a complete image keeps exactly the
    /// sectors read, and a later, wider read fetches only what is missing.
    @Test func cacheHoldsExactlyTheSectorsRead() async throws {
        let bottom = try await ProbeLayer.filled(.init(sectorCount: 2048, readOnly: true))
        let cache = RAMLayer(sectorCount: 2048)
        let disk = try await LayeredDisk(readOnly: true, layers: [
            LayerConfiguration(cache, readCache: true),
            LayerConfiguration(bottom),
        ])

        for sector: UInt64 in [0, 2, 4, 6, 8, 0, 2, 4, 6, 8] {
            #expect(try await disk.read(at: sector, count: 1) == SectorPattern.bytes(sector: sector))
        }
        #expect(cache.presentSectorCount == 5)
        #expect(bottom.reads == [0..<1, 2..<3, 4..<5, 6..<7, 8..<9])

        let wide = try await disk.read(at: 1, count: 15)
        #expect(wide == SectorPattern.bytes(sectors: 1..<16))
        #expect(cache.presentSectorCount == 16)
        #expect(bottom.reads.suffix(5) == [1..<2, 3..<4, 5..<6, 7..<8, 9..<16])
    }

    @Test func failedFillIsReportedAndTheReadStillSucceeds() async throws {
        let bottom = try await ProbeLayer.filled(.init(sectorCount: 64, readOnly: true))
        let cache = ProbeLayer(.init(sectorCount: 64, failsCacheFills: true))
        let failures = FailureLog()
        let disk = try await LayeredDisk(
            readOnly: true,
            layers: [LayerConfiguration(cache, readCache: true), LayerConfiguration(bottom)],
            onCacheFillFailure: { failures.append($0) }
        )

        #expect(try await disk.read(at: 10, count: 4) == SectorPattern.bytes(sectors: 10..<14))
        #expect(disk.cacheFillFailureCount == 1)
        let failure = try #require(failures.all.first)
        #expect(failure.layer == 0)
        #expect(failure.sectors == 10..<14)
        #expect(failure.underlying is ProbeLayer.CacheFillRefused)
    }

    /// A guest write that lands while a read of the same sector is in flight
    /// must win: the fill that follows carries the old data and may not
    /// overwrite it.
    @Test func writeRacingAFillWins() async throws {
        let (readStarted, readStartedSignal) = AsyncStream<Void>.makeStream()
        let (release, releaseSignal) = AsyncStream<Void>.makeStream()
        let bottom = try await ProbeLayer.filled(.init(sectorCount: 64, afterRead: {
            readStartedSignal.yield()
            for await _ in release { break }
        }))
        let cache = RAMLayer(sectorCount: 64)
        let disk = try await LayeredDisk(readOnly: false, layers: [
            LayerConfiguration(cache, writeThrough: true, readCache: true),
            LayerConfiguration(bottom),
        ])

        async let staleRead = disk.read(at: 5, count: 1)
        for await _ in readStarted { break }
        let fresh = SectorPattern.bytes(sector: 5, generation: 1)
        try await disk.write(fresh[...], at: 5, fua: false)
        releaseSignal.yield()

        #expect(try await staleRead == SectorPattern.bytes(sector: 5))
        #expect(try await disk.read(at: 5, count: 1) == fresh)
    }
}
