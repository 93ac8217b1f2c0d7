import Fetching
import Synchronization

/// The image's bytes, checked against its hash tree before anyone sees
/// them: wraps the source the fetch pipeline reads (the object as
/// published, so for a qcow2 the file), so nothing unverified is written to
/// the cache or returned. Each request is widened to whole blocks; a block
/// that does not match is fetched once more on its own, and if it still
/// does not match, the request fails with ``BlockMismatch`` after every
/// other block went on to the sink.
///
/// Once it ``copiesChunks(from:)``, a whole chunk some cache
/// under the root already holds (by content: see ``ContentIndex``) is
/// copied from there, checked the same way, instead of fetched.
public final class VerifiedSource: RangeSource {
    public let tree: HashTree
    private let inner: any RangeSource
    private let imageDescription: String
    private let blockSize: UInt64
    private let sharing = Mutex<Sharing?>(nil)
    private let copied = Atomic<UInt64>(0)
    /// Chunks looked up and copied together: one trip to the pool each.
    private static let chunksCopiedAtOnce = 4

    private struct Sharing {
        let index: ContentIndex
        let chunkBytes: UInt64
        let dataBytes: UInt64

        /// Whether `piece` is a whole chunk (the image's last may be shorter).
        func isWholeChunk(_ piece: Range<UInt64>) -> Bool {
            piece.lowerBound % chunkBytes == 0 && (piece.count == chunkBytes || piece.upperBound == dataBytes)
        }
    }

    /// Checks `inner`'s bytes against `tree`; `image` names the image
    /// (redacted) in errors.
    public init(_ inner: any RangeSource, tree: HashTree, image: String) {
        self.inner = inner
        self.tree = tree
        imageDescription = image
        blockSize = UInt64(tree.geometry.dataBlockSize)
    }

    /// Bytes copied from caches so far rather than fetched.
    public var copiedBytes: UInt64 { copied.load(ordering: .relaxed) }

    /// From now on, looks up whole chunks (the index's) in `index` before
    /// fetching them, and records the chunks it verifies there. Only a tree
    /// made without a salt names content; with a salt this does nothing and
    /// returns false.
    @discardableResult
    public func copiesChunks(from index: ContentIndex) -> Bool {
        guard tree.superblock.salt.isEmpty, index.chunkBytes % Int(blockSize) == 0 else { return false }
        sharing.withLock { $0 = Sharing(index: index, chunkBytes: UInt64(index.chunkBytes), dataBytes: tree.geometry.dataBytes) }
        return true
    }

    public func read(_ range: Range<UInt64>, for purpose: FetchPurpose) async throws -> [UInt8] {
        let gathered = GatheringSink(range: range)
        try await read(range, for: purpose, into: gathered)
        return gathered.bytes
    }

    public func read(_ range: Range<UInt64>, for purpose: FetchPurpose, into sink: any FetchSink) async throws {
        let blocks = range.lowerBound / blockSize..<(range.upperBound + blockSize - 1) / blockSize
        let digests = try await tree.digests(ofBlocks: blocks)
        let sharing = sharing.withLock { $0 }
        let whole = blocks.lowerBound * blockSize..<blocks.upperBound * blockSize
        let pieces = sharing.map { chunkPieces(of: whole, chunkBytes: $0.chunkBytes) } ?? [whole]
        var held: [(piece: Range<UInt64>, key: ChunkKey)] = []
        if let sharing {
            for piece in pieces where sharing.isWholeChunk(piece) {
                if let key = digests.key(ofBlocks: piece.lowerBound / blockSize..<piece.upperBound / blockSize) {
                    held.append((piece, key))
                }
            }
        }
        var copiedPieces: Set<UInt64> = []
        // A few chunks at a time, so a large request holds 256 KiB of copies.
        for start in stride(from: 0, to: held.count, by: Self.chunksCopiedAtOnce) {
            let slice = held[start..<min(start + Self.chunksCopiedAtOnce, held.count)]
            let copies = await sharing?.index.bytes(of: slice.map { ($0.key, $0.piece.count) }) ?? []
            for ((piece, _), bytes) in zip(slice, copies) {
                guard let bytes, bytes.withUnsafeBytes({ matches($0, from: piece.lowerBound, digests: digests) }) else { continue }
                try bytes.withUnsafeBytes { try forward($0, at: piece.lowerBound, to: sink, wanted: range) }
                copied.add(UInt64(piece.count), ordering: .relaxed)
                copiedPieces.insert(piece.lowerBound)
            }
        }
        var toFetch: [Range<UInt64>] = []
        for piece in pieces where !copiedPieces.contains(piece.lowerBound) {
            if let last = toFetch.last, last.upperBound == piece.lowerBound {
                toFetch[toFetch.count - 1] = last.lowerBound..<piece.upperBound
            } else {
                toFetch.append(piece)
            }
        }
        for run in toFetch {
            try await fetch(run, digests: digests, for: purpose, into: sink, wanted: range)
        }
        if let sharing, !held.isEmpty {
            await sharing.index.record(held.map { ($0.key, $0.piece.lowerBound / sharing.chunkBytes) }, rootHash: tree.rootHash)
        }
    }

    /// Streams `run` (whole blocks) through a ``VerifyingSink``, then fetches
    /// each block that failed once more.
    private func fetch(
        _ run: Range<UInt64>, digests: BlockDigests, for purpose: FetchPurpose, into sink: any FetchSink, wanted: Range<UInt64>
    ) async throws {
        let verifying = VerifyingSink(
            downstream: sink, digests: digests, blockSize: Int(blockSize), start: run.lowerBound, wanted: wanted)
        try await inner.read(run, for: purpose, into: verifying)
        for block in try await verifying.finish() {
            let bytes = block * blockSize..<(block + 1) * blockSize
            let again = try await inner.read(bytes, for: purpose)
            guard again.withUnsafeBytes({ matches($0, from: bytes.lowerBound, digests: digests) }) else {
                throw BlockMismatch(block: block, failedBytes: bytes, image: imageDescription)
            }
            try again.withUnsafeBytes { try forward($0, at: bytes.lowerBound, to: sink, wanted: wanted) }
        }
    }

    /// Whether every block of `bytes` (whole blocks from byte `offset`)
    /// matches its digest.
    private func matches(_ bytes: UnsafeRawBufferPointer, from offset: UInt64, digests: BlockDigests) -> Bool {
        digests.mismatchedBlocks(in: bytes, from: offset / blockSize).isEmpty
    }

    /// `range` cut at chunk boundaries.
    private func chunkPieces(of range: Range<UInt64>, chunkBytes: UInt64) -> [Range<UInt64>] {
        var pieces: [Range<UInt64>] = []
        var start = range.lowerBound
        while start < range.upperBound {
            let end = min(range.upperBound, (start / chunkBytes + 1) * chunkBytes)
            pieces.append(start..<end)
            start = end
        }
        return pieces
    }
}

/// Gathers a read's bytes in memory, in place.
private final class GatheringSink: FetchSink {
    private let start: UInt64
    private let gathered: Mutex<[UInt8]>

    init(range: Range<UInt64>) {
        start = range.lowerBound
        gathered = Mutex(Array(repeating: 0, count: range.count))
    }

    var bytes: [UInt8] { gathered.withLock { $0 } }

    func write(_ piece: UnsafeRawBufferPointer, at offset: UInt64) throws {
        let at = Int(offset - start)
        gathered.withLock { bytes in
            bytes.withUnsafeMutableBytes { UnsafeMutableRawBufferPointer(rebasing: $0[at..<at + piece.count]).copyMemory(from: piece) }
        }
    }
}
