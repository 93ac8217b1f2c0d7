import Fetching
import Testing

@Suite("Chunk layout")
struct ChunkLayoutTests {
    /// Chunks of disks up to the largest lazydisk serves (1 EiB), with reads
    /// that end at, or just inside, the end of the disk.
    @Test func chunkArithmeticHoldsUpToTheLargestDisk() {
        for diskBytes: UInt64 in [1, 512, 65536, (1 << 32) + 512, 1 << 60] {
            for chunkBytes in [512, 65536, 1 << 30] {
                let layout = ChunkLayout(chunkBytes: chunkBytes, diskBytes: diskBytes)
                let last = layout.chunkCount - 1
                #expect(layout.byteRange(ofChunk: last).upperBound == diskBytes)
                #expect(layout.chunks(overlapping: diskBytes - 1..<diskBytes) == last..<last + 1)
                #expect(layout.chunks(overlapping: 0..<diskBytes) == 0..<layout.chunkCount)
            }
        }
    }

    /// A range that starts and ends inside chunks, over a short last chunk:
    /// each piece is the chunk's share, placed where it lies in the chunk.
    @Test func aRangeFallsIntoOnePieceAChunk() {
        let layout = ChunkLayout(chunkBytes: 4096, diskBytes: 10_000)
        let pieces = Array(layout.pieces(of: 1000..<9000))
        #expect(pieces.map(\.chunk) == [0, 1, 2])
        #expect(pieces.map(\.bytes) == [1000..<4096, 4096..<8192, 8192..<9000])
        #expect(pieces.map(\.offsetInChunk) == [1000, 0, 0])
        let inLastChunk = Array(layout.pieces(of: 9000..<10_000))
        #expect(inLastChunk.map(\.bytes) == [9000..<10_000] && inLastChunk.map(\.offsetInChunk) == [808])
        #expect(Array(layout.pieces(of: 5000..<5000)).isEmpty)
    }
}
