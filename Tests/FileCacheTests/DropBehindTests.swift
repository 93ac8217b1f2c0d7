import Testing
@testable import FileCache

@Suite("Drop-behind")
struct DropBehindTests {
    /// `cat` lets go of every chunk it passed: at once when committed,
    /// at the commit otherwise.
    @Test func aStreamingCommandLetsGoOfEveryChunkItPassed() {
        var dropBehind = DropBehind()
        #expect(dropBehind.passed(0..<4) { $0 < 2 } == [0..<2])
        #expect(dropBehind.committed([2..<4, 8..<9], marking: [2, 3, 8]) == [2..<4], "a chunk nobody passed stays")
    }

    /// A bulk reader of `serve` lets go only of what this process fetched:
    /// chunks it committed go at once, those it has yet to commit at their
    /// commit, and chunks the cache held before (another guest may read
    /// them) stay.
    @Test func aBulkReaderLetsGoOnlyOfWhatThisProcessFetched() {
        var dropBehind = DropBehind()
        #expect(dropBehind.committed([0..<4], marking: [0, 1, 2, 3]).isEmpty, "nobody passed them yet")
        #expect(dropBehind.passedInBulk(0..<8) { $0 < 6 } == [0..<4], "4 and 5 were held before")
        #expect(dropBehind.committed([6..<8], marking: [6, 7]) == [6..<8])
        #expect(dropBehind.passedInBulk(4..<6) { _ in true }.isEmpty)
    }

    /// A request may span cached chunks between the missing ones it fetched
    /// (background requests merge small gaps): its commit sets only the
    /// missing ones' bits, and only those count as fetched here.
    @Test func cachedChunksARequestSpannedStay() {
        var dropBehind = DropBehind()
        #expect(dropBehind.committed([0..<8], marking: [0, 1, 2, 3, 6, 7]).isEmpty)
        #expect(dropBehind.passedInBulk(0..<8) { _ in true } == [0..<4, 6..<8])
    }

    /// `pull` reads nothing: every chunk goes at its commit.
    @Test func pullLetsGoOfEveryCommit() {
        var dropBehind = DropBehind()
        dropBehind.passesEveryChunk = true
        #expect(dropBehind.committed([0..<4, 6..<7], marking: [0, 1, 2, 3, 6]) == [0..<4, 6..<7])
    }
}
