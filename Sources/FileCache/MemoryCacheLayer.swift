import Fetching
import LayeredDisk
import Synchronization

/// The read cache of `--no-cache`: the file cache's place in the stack, in
/// a bounded amount of memory, so an image read without a cache on disk
/// goes through the same stack, fetch pipeline and readahead as one with.
///
/// Whole chunks only, as the file cache. Past its limit it forgets the
/// chunks read least recently, and only when none it holds has been read,
/// the oldest of those that arrived ahead of their reader: a sequential
/// reader is done with what it read. A read that finds a chunk gone before
/// it read it asks for it again (see ``LayeredDisk``). Nothing is durable, so a
/// commit has nothing to do.
public final class MemoryCacheLayer: ImmediateReadLayer, ChunkStore {
    public let chunkLayout: ChunkLayout
    public let sectorSize: Int
    private let state: Mutex<State>

    /// Unchecked `Sendable`: its buffers are touched only under the lock.
    private struct State: ~Copyable, @unchecked Sendable {
        /// Readable chunks.
        var held: [Int: UnsafeMutableRawBufferPointer] = [:]
        /// Readable chunks no read has touched yet, oldest arrival first.
        var unread = RecencyList<Int>()
        /// Readable chunks read at least once, least recently used first:
        /// forgotten before any unread one.
        var read = RecencyList<Int>()
        /// Chunks a fetch is writing, not yet readable.
        var arriving: [Int: UnsafeMutableRawBufferPointer] = [:]
        /// Where every buffer above comes from; its limit is the cache's.
        var buffers: ChunkBufferPool

        /// The buffer `chunk`'s arriving bytes go to; a chunk that starts
        /// arriving takes one. Past the limit, readable chunks are forgotten,
        /// those read first; chunks still arriving never are, so a fetch
        /// larger than the cache overdraws it until its reader has read them.
        mutating func arrivalBuffer(of chunk: Int) -> UnsafeMutableRawBufferPointer {
            if let buffer = arriving[chunk] { return buffer }
            while buffers.outstanding >= buffers.keptBuffers, let oldest = read.removeOldest() ?? unread.removeOldest() {
                if let forgotten = held.removeValue(forKey: oldest) { buffers.giveBack(forgotten) }
            }
            let buffer = buffers.take()
            arriving[chunk] = buffer
            return buffer
        }

        /// A read touched `chunk`, a readable one.
        mutating func noteRead(_ chunk: Int) {
            unread.remove(chunk)
            read.use(chunk)
        }

        deinit {
            held.values.forEach { buffers.release($0) }
            arriving.values.forEach { buffers.release($0) }
        }
    }

    /// A cache of a disk of `sectorCount` sectors, in chunks of
    /// `chunkBytes`, holding at most `limitBytes` (at least one chunk).
    public init(sectorCount: UInt64, sectorSize: Int, chunkBytes: Int, limitBytes: Int) {
        chunkLayout = ChunkLayout(chunkBytes: chunkBytes, diskBytes: sectorCount * UInt64(sectorSize))
        self.sectorSize = sectorSize
        state = Mutex(State(buffers: ChunkBufferPool(chunkBytes: chunkBytes, keptBuffers: max(1, limitBytes / chunkBytes))))
    }

    public var layerType: String { "memory-cache" }
    public var sectorCount: UInt64 { chunkLayout.diskBytes / UInt64(sectorSize) }
    public var physicalSectorSize: Int { 4096 }
    public var isFUARespected: Bool { false }
    public var isLogicallyReadOnly: Bool { true }
    public var unmapBehavior: UnmapBehavior { .ignored }

    public func readImmediately(into buffer: inout SectorBuffer, marking marker: inout SectorMarker) -> Bool {
        let sectorBytes = UInt64(sectorSize)
        let window = buffer.sectors.lowerBound * sectorBytes..<buffer.sectors.upperBound * sectorBytes
        state.withLock { state in
            for piece in chunkLayout.pieces(of: window) {
                guard let held = state.held[piece.chunk] else { continue }
                state.noteRead(piece.chunk)
                let sectors = piece.bytes.lowerBound / sectorBytes..<piece.bytes.upperBound / sectorBytes
                buffer.withUnsafeMutableBytes(of: sectors) { $0.copyMemory(from: Self.bytes(of: piece, in: held)) }
                marker.mark(sectors)
            }
        }
        return true
    }

    public func write(_ bytes: ArraySlice<UInt8>, at sector: UInt64, fua: Bool) async throws {
        throw DiskError.readOnly
    }

    public func flush() async throws {}

    public func unmap(at sector: UInt64, count: UInt64, nextIsZero: Bool) async throws {
        throw DiskError.readOnly
    }

    // MARK: ChunkStore

    public func missingRuns(in chunks: Range<Int>) -> [Range<Int>] {
        knownMissingRuns(in: chunks)
    }

    /// Memory is not shared: what this process knows is all there is.
    public func knownMissingRuns(in chunks: Range<Int>) -> [Range<Int>] {
        state.withLock { state in ChunkLayout.runs(in: chunks) { state.held[$0] == nil } }
    }

    public func readHeld(_ bytes: Range<UInt64>, into target: UnsafeMutableRawBufferPointer) throws {
        try state.withLock { state throws(Forgotten) in
            var written = 0
            for piece in chunkLayout.pieces(of: bytes) {
                let held: UnsafeMutableRawBufferPointer
                if let readable = state.held[piece.chunk] {
                    state.noteRead(piece.chunk)
                    held = readable
                } else if let arriving = state.arriving[piece.chunk] {
                    held = arriving
                } else {
                    throw Forgotten(chunk: piece.chunk)
                }
                let copied = Self.bytes(of: piece, in: held)
                UnsafeMutableRawBufferPointer(rebasing: target[written..<written + copied.count]).copyMemory(from: copied)
                written += copied.count
            }
        }
    }

    public func writeFetched(_ bytes: UnsafeRawBufferPointer, at offset: UInt64) {
        state.withLock { state in
            for piece in chunkLayout.pieces(of: offset..<offset + UInt64(bytes.count)) {
                let source = UnsafeRawBufferPointer(rebasing: bytes[Int(piece.bytes.lowerBound - offset)..<Int(piece.bytes.upperBound - offset)])
                let target = state.arrivalBuffer(of: piece.chunk)
                UnsafeMutableRawBufferPointer(rebasing: target[piece.offsetInChunk..<piece.offsetInChunk + piece.bytes.count]).copyMemory(from: source)
            }
        }
    }

    /// The bytes of `piece` in its chunk's buffer.
    private static func bytes(of piece: ChunkLayout.Piece, in chunk: UnsafeMutableRawBufferPointer) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: chunk[piece.offsetInChunk..<piece.offsetInChunk + piece.bytes.count])
    }

    /// Makes the chunks readable.
    public func wrote(_ chunks: Range<Int>) {
        state.withLock { state in
            for chunk in chunks {
                guard let bytes = state.arriving.removeValue(forKey: chunk) else { continue }
                if let replaced = state.held.updateValue(bytes, forKey: chunk) { state.buffers.giveBack(replaced) }
                state.read.remove(chunk)
                state.unread.use(chunk)
            }
        }
    }

    public func commitChunks(_ runs: [Range<Int>]) {}

    /// A chunk asked for that the cache no longer holds.
    public struct Forgotten: Error, CustomStringConvertible {
        public let chunk: Int
        public var description: String { "chunk \(chunk) is no longer in the memory cache" }
    }
}
