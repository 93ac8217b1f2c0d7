/// How a disk is cut into fixed-size chunks, the unit a cache keeps and a
/// fetch moves. The last chunk may be short.
public struct ChunkLayout: Sendable, Hashable {
    /// Bytes per chunk; a multiple of the sector size.
    public let chunkBytes: Int
    /// Bytes of the whole disk.
    public let diskBytes: UInt64

    public init(chunkBytes: Int, diskBytes: UInt64) {
        precondition(chunkBytes > 0, "a chunk holds at least one byte")
        self.chunkBytes = chunkBytes
        self.diskBytes = diskBytes
    }

    public var chunkCount: Int {
        Int((diskBytes + UInt64(chunkBytes) - 1) / UInt64(chunkBytes))
    }

    /// The bytes of the disk `chunk` covers.
    public func byteRange(ofChunk chunk: Int) -> Range<UInt64> {
        byteRange(ofChunks: chunk..<chunk + 1)
    }

    /// The bytes of the disk a run of chunks covers; empty for no chunks.
    public func byteRange(ofChunks chunks: Range<Int>) -> Range<UInt64> {
        guard !chunks.isEmpty else { return 0..<0 }
        let size = UInt64(chunkBytes)
        return UInt64(chunks.lowerBound) * size..<min(UInt64(chunks.upperBound) * size, diskBytes)
    }

    /// How many bytes of the disk a run of chunks covers.
    public func byteCount(ofChunks chunks: Range<Int>) -> UInt64 {
        UInt64(byteRange(ofChunks: chunks).count)
    }

    /// How many chunks lie wholly before byte `end` (the chunk the disk's
    /// end falls in counts once `end` reaches it).
    public func chunkCount(before end: UInt64) -> Int {
        end >= diskBytes ? chunkCount : Int(end / UInt64(chunkBytes))
    }

    /// The chunks that overlap `bytes`.
    public func chunks(overlapping bytes: Range<UInt64>) -> Range<Int> {
        guard !bytes.isEmpty else { return 0..<0 }
        let size = UInt64(chunkBytes)
        return Int(bytes.lowerBound / size)..<Int((bytes.upperBound + size - 1) / size)
    }

    /// One chunk's share of a range of bytes.
    public struct Piece: Sendable, Hashable {
        public let chunk: Int
        /// The bytes of the disk the piece covers.
        public let bytes: Range<UInt64>
        /// Where those bytes start within the chunk.
        public let offsetInChunk: Int
    }

    /// The pieces `bytes` falls into, one a chunk, in order: what a cache
    /// that keeps each chunk in a buffer of its own copies to or from.
    public func pieces(of bytes: Range<UInt64>) -> Pieces {
        Pieces(layout: self, bytes: bytes)
    }

    /// The walk `pieces(of:)` returns: a plain value rather than a lazy map,
    /// whose closure context would cost a heap allocation on every read.
    public struct Pieces: Sequence, IteratorProtocol {
        private let layout: ChunkLayout
        private let bytes: Range<UInt64>
        private var chunks: Range<Int>.Iterator

        init(layout: ChunkLayout, bytes: Range<UInt64>) {
            self.layout = layout
            self.bytes = bytes
            self.chunks = layout.chunks(overlapping: bytes).makeIterator()
        }

        public mutating func next() -> Piece? {
            guard let chunk = chunks.next() else { return nil }
            let chunkBytes = layout.byteRange(ofChunk: chunk)
            let piece = chunkBytes.clamped(to: bytes)
            return Piece(chunk: chunk, bytes: piece, offsetInChunk: Int(piece.lowerBound - chunkBytes.lowerBound))
        }
    }

    /// Runs of consecutive chunks in `chunks` for which `included` holds.
    public static func runs(in chunks: Range<Int>, where included: (Int) -> Bool) -> [Range<Int>] {
        var runs: [Range<Int>] = []
        var start: Int?
        for chunk in chunks {
            if included(chunk) {
                start = start ?? chunk
            } else if let first = start {
                runs.append(first..<chunk)
                start = nil
            }
        }
        if let first = start {
            runs.append(first..<chunks.upperBound)
        }
        return runs
    }
}
