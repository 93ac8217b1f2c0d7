import FileCache
import LayeredDisk
import Testing

/// The bounded memory `--no-cache` reads through.
@Suite("Memory cache")
struct MemoryCacheLayerTests {
    static let chunk = 4096

    /// A cache of 16 chunks that holds three.
    let cache = MemoryCacheLayer(sectorCount: 128, sectorSize: 512, chunkBytes: chunk, limitBytes: 3 * chunk)

    /// Chunks `chunks` arrive from a fetch, each filled with its number.
    func arrive(_ chunks: Range<Int>) {
        let bytes = chunks.flatMap { [UInt8](repeating: UInt8($0), count: Self.chunk) }
        bytes.withUnsafeBytes { cache.writeFetched($0, at: UInt64(chunks.lowerBound * Self.chunk)) }
        cache.wrote(chunks)
    }

    /// Reads chunk `index` at once; its bytes, or nil when it is not held.
    func read(_ index: Int) -> [UInt8]? {
        let sectors = UInt64(index * 8)..<UInt64(index * 8 + 8)
        var buffer = SectorBuffer(sectors: sectors, sectorSize: 512)
        var marker = SectorMarker(sectors: sectors)
        _ = cache.readImmediately(into: &buffer, marking: &marker)
        return marker.isComplete ? buffer.bytes : nil
    }

    /// Past its limit it forgets the chunk used least recently: a chunk
    /// read after others arrived outlives them.
    @Test func forgetsTheLeastRecentlyUsedChunk() {
        arrive(0..<1)
        arrive(1..<2)
        arrive(2..<3)
        #expect(read(0) == [UInt8](repeating: 0, count: Self.chunk))
        arrive(3..<4)
        #expect(cache.knownMissingRuns(in: 0..<4) == [1..<2])
        arrive(4..<5)
        #expect(cache.knownMissingRuns(in: 0..<5) == [1..<3])
        #expect(read(0) == [UInt8](repeating: 0, count: Self.chunk))
        #expect(read(4) == [UInt8](repeating: 4, count: Self.chunk))
    }

    /// A fetch of more chunks than it holds keeps every one of them until
    /// the next arrives: the reader that asked has yet to read them. The
    /// memory it overdrew is given back, and reused memory reads back as
    /// the chunk that arrived in it last.
    @Test func neverForgetsTheChunksJustWritten() {
        arrive(0..<2)
        arrive(2..<7)
        #expect(cache.knownMissingRuns(in: 0..<7) == [0..<2])
        #expect((2..<7).allSatisfy { read($0) == [UInt8](repeating: UInt8($0), count: Self.chunk) })
        arrive(7..<8)
        #expect(cache.knownMissingRuns(in: 0..<8) == [0..<5])
        arrive(8..<10)
        #expect(cache.knownMissingRuns(in: 0..<10) == [0..<7])
        #expect((7..<10).allSatisfy { read($0) == [UInt8](repeating: UInt8($0), count: Self.chunk) })
    }
}
