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
}
