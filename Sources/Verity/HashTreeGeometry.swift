/// Where each digest of a dm-verity hash tree lives, as cryptsetup lays it
/// out: level 0 holds a digest of every data block, each level above a
/// digest of every hash block of the level below, until one block is left;
/// its digest is the root hash. In the file the superblock's block comes
/// first, then the levels from the top down, each hash block's digests
/// packed from its start and the rest zeros.
public struct HashTreeGeometry: Sendable, Hashable {
    public static let digestSize = 32

    public let dataBlockSize: Int
    public let hashBlockSize: Int
    public let dataBlocks: UInt64
    /// Digests a hash block holds: the largest power of two that fits.
    public let digestsPerBlock: Int
    /// Hash blocks in each level, level 0 first.
    public let levelBlocks: [UInt64]
    /// Where each level starts, in hash blocks from the start of the file.
    public let levelStarts: [UInt64]
    /// Hash blocks in the file, the superblock's included.
    public let totalBlocks: UInt64

    /// The layout for `dataBlocks` blocks, after a superblock (one hash
    /// block) when `hasSuperblock`.
    public init(dataBlockSize: Int, hashBlockSize: Int, dataBlocks: UInt64, hasSuperblock: Bool = true) {
        precondition(dataBlocks > 0 && hashBlockSize >= Self.digestSize)
        self.dataBlockSize = dataBlockSize
        self.hashBlockSize = hashBlockSize
        self.dataBlocks = dataBlocks
        let bits = (hashBlockSize / Self.digestSize).trailingZeroBitCount
        digestsPerBlock = 1 << bits
        var levels = 0
        while bits * levels < 64 && (dataBlocks - 1) >> UInt64(bits * levels) != 0 {
            levels += 1
        }
        var sizes: [UInt64] = []
        for level in 0..<levels {
            let shift = UInt64(bits * (level + 1))
            sizes.append((dataBlocks + (1 << shift) - 1) >> shift)
        }
        levelBlocks = sizes
        var position: UInt64 = hasSuperblock ? 1 : 0
        var starts = Array(repeating: UInt64(0), count: levels)
        for level in stride(from: levels - 1, through: 0, by: -1) {
            starts[level] = position
            position += sizes[level]
        }
        levelStarts = starts
        totalBlocks = position
    }

    /// Levels of hash blocks; zero when the data is one block, whose digest
    /// is then the root hash.
    public var levels: Int { levelBlocks.count }

    /// Bytes of data the tree covers.
    public var dataBytes: UInt64 { dataBlocks * UInt64(dataBlockSize) }

    /// The bytes of the tree file.
    public var treeBytes: UInt64 { totalBlocks * UInt64(hashBlockSize) }

    /// Byte offset in the tree file of hash block `index` of `level`.
    public func offset(level: Int, index: UInt64) -> UInt64 {
        (levelStarts[level] + index) * UInt64(hashBlockSize)
    }

    /// Where the digest of block `index` (a data block for level -1, else a
    /// hash block of `level`) sits: which block of the level above, and
    /// where in it.
    public func parent(ofBlock index: UInt64) -> (index: UInt64, byteOffset: Int) {
        (index / UInt64(digestsPerBlock), Int(index % UInt64(digestsPerBlock)) * Self.digestSize)
    }
}
