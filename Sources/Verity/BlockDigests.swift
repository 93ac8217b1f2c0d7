/// The verified level-0 digests of a run of data blocks, handed to a fetch
/// before its bytes arrive so each block is checked as it streams in,
/// without waiting on the tree.
public struct BlockDigests: Sendable {
    private let geometry: HashTreeGeometry
    private let hasher: BlockHasher
    /// Level-0 groups of hash blocks by group index; empty when the tree has
    /// no levels.
    private let groups: [UInt64: [UInt8]]
    private let rootHash: [UInt8]

    init(geometry: HashTreeGeometry, hasher: BlockHasher, groups: [UInt64: [UInt8]], rootHash: [UInt8]) {
        self.geometry = geometry
        self.hasher = hasher
        self.groups = groups
        self.rootHash = rootHash
    }

    /// Whether `bytes` are data block `block` as the tree names it (false
    /// for a block this run does not cover).
    func matches(_ bytes: UnsafeRawBufferPointer, ofBlock block: UInt64) -> Bool {
        withExpectedDigest(ofBlock: block) { $0.map { hasher.matches(bytes, expected: $0) } ?? false }
    }

    /// The blocks among `bytes`, whole data blocks from block `first`, that
    /// do not match.
    func mismatchedBlocks(in bytes: UnsafeRawBufferPointer, from first: UInt64) -> [UInt64] {
        let size = geometry.dataBlockSize
        return (0..<UInt64(bytes.count / size)).compactMap { index in
            let start = Int(index) * size
            return matches(UnsafeRawBufferPointer(rebasing: bytes[start..<start + size]), ofBlock: first + index) ? nil : first + index
        }
    }

    /// Calls `body` with the expected digest of data block `block`, or nil
    /// when this run does not cover it.
    private func withExpectedDigest<T>(ofBlock block: UInt64, _ body: (UnsafeRawBufferPointer?) -> T) -> T {
        guard geometry.levels > 0 else {
            return block == 0 ? rootHash.withUnsafeBytes { body($0) } : body(nil)
        }
        let (hashBlock, byteOffset) = geometry.parent(ofBlock: block)
        guard let group = groups[hashBlock / HashTree.groupBlocks] else { return body(nil) }
        let start = Int(hashBlock % HashTree.groupBlocks) * geometry.hashBlockSize + byteOffset
        return group.withUnsafeBytes { body(UnsafeRawBufferPointer(rebasing: $0[start..<start + HashTreeGeometry.digestSize])) }
    }

    /// The content key of the chunk made of `blocks`, when this run covers
    /// them all.
    func key(ofBlocks blocks: Range<UInt64>) -> ChunkKey? {
        var digests: [UInt8] = []
        digests.reserveCapacity(blocks.count * HashTreeGeometry.digestSize)
        for block in blocks {
            guard withExpectedDigest(ofBlock: block, { $0.map { digests += $0 } }) != nil else { return nil }
        }
        return digests.withUnsafeBytes { ChunkKey(digests: $0) }
    }
}
