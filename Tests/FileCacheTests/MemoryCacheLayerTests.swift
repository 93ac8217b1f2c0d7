import FileCache
import LayeredDisk
import Synchronization
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

    /// Past its limit it forgets chunks already read before any that no
    /// read has touched: a sequential reader is done with what it read,
    /// and what arrived ahead of it is what it waits for next. With a
    /// recency list alone, a chunk read pushed the unread ones out first.
    @Test func forgetsChunksAlreadyReadBeforeUnreadOnes() {
        arrive(0..<3)
        #expect(read(0) == [UInt8](repeating: 0, count: Self.chunk))
        arrive(3..<4)
        #expect(cache.knownMissingRuns(in: 0..<4) == [0..<1])
        arrive(4..<5)
        #expect(cache.knownMissingRuns(in: 0..<5) == [0..<2], "no chunk read is held: the oldest arrival goes")
        #expect((2..<5).allSatisfy { read($0) == [UInt8](repeating: UInt8($0), count: Self.chunk) })
    }

    /// Among the chunks read, the one read least recently goes first; a
    /// read chunk read again is kept.
    @Test func forgetsTheChunkReadLeastRecently() {
        arrive(0..<3)
        _ = read(1)
        _ = read(0)
        _ = read(1)
        arrive(3..<4)
        #expect(cache.knownMissingRuns(in: 0..<4) == [0..<1])
        arrive(4..<5)
        #expect(cache.knownMissingRuns(in: 0..<5) == [0..<2])
        #expect(read(2) == [UInt8](repeating: 2, count: Self.chunk))
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

    /// Readahead's bytes wait while every chunk held is unread: a write
    /// that would make the cache forget one is refused, whole, and the
    /// cache says when a read has made room. Without the refusal the
    /// oldest unread chunk went, and its reader fetched it again.
    @Test func readaheadWaitsWhileEveryChunkHeldIsUnread() {
        let rooms = Mutex(0)
        cache.onRoomMade { rooms.withLock { $0 += 1 } }
        arrive(0..<3)
        let refused = fetched(3..<4) { cache.writeFetchedIfRoom($0, at: $1) }
        #expect(!refused)
        #expect(cache.knownMissingRuns(in: 0..<4) == [3..<4])
        #expect(rooms.withLock { $0 } == 0)
        #expect(read(1) == [UInt8](repeating: 1, count: Self.chunk))
        #expect(rooms.withLock { $0 } == 1, "the read made room for the write refused")
        #expect(read(2) == [UInt8](repeating: 2, count: Self.chunk))
        #expect(rooms.withLock { $0 } == 1, "no write was refused since")
        let taken = fetched(3..<4) { cache.writeFetchedIfRoom($0, at: $1) }
        #expect(taken)
        cache.wrote(3..<4)
        #expect(cache.knownMissingRuns(in: 0..<4) == [1..<2], "the chunk read least recently made the room")
    }

    /// Bytes a read waits for take up to a sixth more than the limit
    /// rather than make the cache forget chunks no read has taken; past
    /// that the oldest unread chunk goes, so chunks nobody reads (the gap
    /// of a merged request) cannot grow the cache for ever.
    @Test func bytesAReadWaitsForOverdrawBeforeUnreadChunksGo() {
        let cache = MemoryCacheLayer(sectorCount: 128, sectorSize: 512, chunkBytes: Self.chunk, limitBytes: 12 * Self.chunk)
        for chunk in 0..<14 {
            _ = fetched(chunk..<chunk + 1) { cache.writeFetched($0, at: $1); return true }
            cache.wrote(chunk..<chunk + 1)
        }
        #expect(cache.knownMissingRuns(in: 0..<16) == [14..<16], "twelve and an overdraft of two held")
        _ = fetched(14..<15) { cache.writeFetched($0, at: $1); return true }
        cache.wrote(14..<15)
        #expect(cache.knownMissingRuns(in: 0..<16) == [0..<1, 15..<16], "past the overdraft the oldest unread chunk went")
    }

    /// Hands chunks `chunks`, each filled with its number, to `write` as
    /// one fetch's bytes; returns what it returns.
    private func fetched(_ chunks: Range<Int>, _ write: (UnsafeRawBufferPointer, UInt64) -> Bool) -> Bool {
        let bytes = chunks.flatMap { [UInt8](repeating: UInt8($0), count: Self.chunk) }
        return bytes.withUnsafeBytes { write($0, UInt64(chunks.lowerBound * Self.chunk)) }
    }
}
