import Testing
@testable import FileCache

/// The memory `--no-cache` keeps its chunks in, allocated once and reused.
@Suite("Chunk buffer pool")
struct ChunkBufferPoolTests {
    /// A buffer given back is handed out again, not a new one.
    @Test func reusesWhatIsGivenBack() {
        var pool = ChunkBufferPool(chunkBytes: 4096, keptBuffers: 4)
        let first = pool.take()
        pool.giveBack(first)
        let second = pool.take()
        #expect(second.baseAddress == first.baseAddress)
        #expect(second.count == 4096)
        pool.giveBack(second)
    }

    /// Past its kept buffers it lends buffers of its own, which it frees
    /// when they come back: the next round is served from the kept ones.
    @Test func keepsOnlyItsLimit() {
        var pool = ChunkBufferPool(chunkBytes: 4096, keptBuffers: 2)
        let firstRound = (0..<3).map { _ in pool.take() }
        #expect(Set(firstRound.map(\.baseAddress)).count == 3)
        #expect(pool.outstanding == 3)
        firstRound.forEach { pool.giveBack($0) }
        #expect(pool.outstanding == 0)
        let kept = Set(firstRound.prefix(2).map(\.baseAddress))
        let secondRound = (0..<2).map { _ in pool.take() }
        #expect(Set(secondRound.map(\.baseAddress)) == kept)
        secondRound.forEach { pool.giveBack($0) }
    }
}
