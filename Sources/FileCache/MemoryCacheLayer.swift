import Fetching
import LayeredDisk
import Synchronization

/// The read cache of `--no-cache`: the file cache's place in the stack, in
/// a bounded amount of memory, so an image read without a cache on disk
/// goes through the same stack, fetch pipeline and readahead as one with.
///
/// Whole chunks only, as the file cache. Past its limit it forgets the
/// chunks read least recently: a sequential reader is done with what it
/// read. Chunks that arrived ahead of their reader are kept: readahead with
/// no room waits (``writeFetchedIfRoom(_:at:)`` refuses it, and the action
/// set with ``onRoomMade(_:)`` is called once a read has made room), and
/// bytes a read waits for overdraw the limit by up to a sixth. Only past
/// that are unread chunks forgotten, the oldest first (bytes a merged
/// request brought that no read wants). A read that finds a chunk gone
/// before it read it asks for it again (see ``LayeredDisk``). Nothing is
/// durable, so a commit has nothing to do.
public final class MemoryCacheLayer: ImmediateReadLayer, ChunkStore {
    public let chunkLayout: ChunkLayout
    public let sectorSize: Int
    private let state: Mutex<State>
    private let roomMade = Mutex<(@Sendable () -> Void)?>(nil)

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
        /// A write was refused for room, and no read has said so since.
        var refusedForRoom = false
        /// Buffers past the limit that bytes a read waits for may take
        /// rather than make the cache forget a chunk no read has taken.
        var overdraftBuffers: Int { buffers.keptBuffers / 6 }

        /// The buffer `chunk`'s arriving bytes go to; a chunk that starts
        /// arriving takes one. Past the limit, chunks already read are
        /// forgotten; unread ones only past the overdraft. Chunks still
        /// arriving never are, so a fetch larger than the cache overdraws
        /// it further until its reader has read them.
        mutating func arrivalBuffer(of chunk: Int) -> UnsafeMutableRawBufferPointer {
            if let buffer = arriving[chunk] { return buffer }
            while buffers.outstanding >= buffers.keptBuffers, let oldest = read.removeOldest()
                ?? (buffers.outstanding >= buffers.keptBuffers + overdraftBuffers ? unread.removeOldest() : nil) {
                if let forgotten = held.removeValue(forKey: oldest) { buffers.giveBack(forgotten) }
            }
            let buffer = buffers.take()
            arriving[chunk] = buffer
            return buffer
        }

        /// Whether buffers for `chunks` would make the cache forget a chunk
        /// no read has taken: it has no room for those not arriving yet,
        /// and holds no chunk read.
        func lacksRoom(for chunks: some Sequence<Int>) -> Bool {
            let needed = chunks.reduce(0) { $0 + (arriving[$1] == nil ? 1 : 0) }
            return needed > 0 && buffers.outstanding + needed > buffers.keptBuffers && read.oldest == nil
        }

        /// A read touched `chunk`, a readable one.
        mutating func noteRead(_ chunk: Int) {
            unread.remove(chunk)
            read.use(chunk)
        }

        /// Whether a write was refused and reads have since made room: a
        /// chunk read is held, where refusals find none. Says so once.
        mutating func takeRoomMadeSinceRefusal() -> Bool {
            guard refusedForRoom, read.oldest != nil else { return false }
            refusedForRoom = false
            return true
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
        let madeRoom = state.withLock { state in
            for piece in chunkLayout.pieces(of: window) {
                guard let held = state.held[piece.chunk] else { continue }
                state.noteRead(piece.chunk)
                let sectors = piece.bytes.lowerBound / sectorBytes..<piece.bytes.upperBound / sectorBytes
                buffer.withUnsafeMutableBytes(of: sectors) { $0.copyMemory(from: Self.bytes(of: piece, in: held)) }
                marker.mark(sectors)
            }
            return state.takeRoomMadeSinceRefusal()
        }
        if madeRoom { callRoomMade() }
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
        let madeRoom = try state.withLock { state throws(Forgotten) in
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
            return state.takeRoomMadeSinceRefusal()
        }
        if madeRoom { callRoomMade() }
    }

    public func writeFetched(_ bytes: UnsafeRawBufferPointer, at offset: UInt64) {
        state.withLock { state in write(bytes, at: offset, into: &state) }
    }

    public func writeFetchedIfRoom(_ bytes: UnsafeRawBufferPointer, at offset: UInt64) -> Bool {
        state.withLock { state in
            guard !state.lacksRoom(for: chunkLayout.pieces(of: offset..<offset + UInt64(bytes.count)).lazy.map(\.chunk)) else {
                state.refusedForRoom = true
                return false
            }
            write(bytes, at: offset, into: &state)
            return true
        }
    }

    private func write(_ bytes: UnsafeRawBufferPointer, at offset: UInt64, into state: inout State) {
        for piece in chunkLayout.pieces(of: offset..<offset + UInt64(bytes.count)) {
            let source = UnsafeRawBufferPointer(rebasing: bytes[Int(piece.bytes.lowerBound - offset)..<Int(piece.bytes.upperBound - offset)])
            let target = state.arrivalBuffer(of: piece.chunk)
            UnsafeMutableRawBufferPointer(rebasing: target[piece.offsetInChunk..<piece.offsetInChunk + piece.bytes.count]).copyMemory(from: source)
        }
    }

    public var refusesWritesForRoom: Bool { true }

    public func onRoomMade(_ action: @escaping @Sendable () -> Void) {
        roomMade.withLock { $0 = action }
    }

    private func callRoomMade() {
        roomMade.withLock { $0 }?()
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
