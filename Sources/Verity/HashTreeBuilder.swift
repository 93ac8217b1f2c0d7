import Crypto

/// Makes a dm-verity hash tree from data streamed through it once, the
/// tree `veritysetup format` makes for the same data, salt, UUID and block
/// sizes, byte for byte, so publishers need not have cryptsetup.
///
/// Level 0 is kept in memory (a 32-byte digest per data block: 1/128 of
/// the data with 4 KiB blocks); the levels above are made from it at the end.
public struct HashTreeBuilder: Sendable {
    public let superblock: VeritySuperblock
    private let hasher: BlockHasher
    private let dataBlockSize: Int
    private let hashBlockSize: Int
    private let digestsPerBlock: UInt64
    private var partial: [UInt8] = []
    private var levelZero: [UInt8] = []
    private var blocks: UInt64 = 0

    /// A builder with `superblock`'s parameters; its `dataBlocks` is what
    /// the data must come to.
    public init(superblock: VeritySuperblock) {
        self.superblock = superblock
        hasher = BlockHasher(salt: superblock.salt)
        dataBlockSize = Int(superblock.dataBlockSize)
        hashBlockSize = Int(superblock.hashBlockSize)
        digestsPerBlock = UInt64(HashTreeGeometry(dataBlockSize: dataBlockSize, hashBlockSize: hashBlockSize, dataBlocks: 1).digestsPerBlock)
        partial.reserveCapacity(dataBlockSize)
    }

    /// Takes the next bytes of the data.
    public mutating func append(_ bytes: UnsafeRawBufferPointer) {
        var rest = bytes[...]
        if !partial.isEmpty {
            let taken = rest.prefix(dataBlockSize - partial.count)
            partial += taken
            rest = rest.dropFirst(taken.count)
            guard partial.count == dataBlockSize else { return }
            let block = partial
            block.withUnsafeBytes { addBlock($0) }
            partial.removeAll(keepingCapacity: true)
        }
        while rest.count >= dataBlockSize {
            addBlock(UnsafeRawBufferPointer(rebasing: rest.prefix(dataBlockSize)))
            rest = rest.dropFirst(dataBlockSize)
        }
        partial += rest
    }

    private mutating func addBlock(_ block: UnsafeRawBufferPointer) {
        Self.appendDigest(hasher.digest(block), to: &levelZero, index: blocks, digestsPerBlock: digestsPerBlock, hashBlockSize: hashBlockSize)
        blocks += 1
    }

    /// Adds a digest to a level's bytes, starting a new (zero-padded) hash
    /// block where the last one is full. Static, so that the level, a
    /// property of the builder, is changed in place and never copied.
    private static func appendDigest(
        _ digest: SHA256.Digest, to level: inout [UInt8], index: UInt64, digestsPerBlock: UInt64, hashBlockSize: Int
    ) {
        if index % digestsPerBlock == 0 {
            level.append(contentsOf: repeatElement(0, count: hashBlockSize))
        }
        let offset = level.count - hashBlockSize + Int(index % digestsPerBlock) * HashTreeGeometry.digestSize
        digest.withUnsafeBytes { bytes in
            level.withUnsafeMutableBytes { UnsafeMutableRawBufferPointer(rebasing: $0[offset..<offset + bytes.count]).copyMemory(from: bytes) }
        }
    }

    /// The tree: the file's bytes (superblock first) and the root hash.
    /// Throws when the data did not come to whole blocks, or to another
    /// number of them than the superblock says.
    public func finish() throws(HashTreeError) -> (file: [UInt8], rootHash: [UInt8]) {
        guard partial.isEmpty else {
            throw .mismatchedImage("the data ends \(partial.count) bytes into a \(dataBlockSize)-byte block; lazydisk verifies every byte, so pad it to whole blocks")
        }
        guard blocks == superblock.dataBlocks, blocks > 0 else {
            throw .mismatchedImage("the data has \(blocks) blocks of \(dataBlockSize) bytes, not \(superblock.dataBlocks)")
        }
        let geometry = HashTreeGeometry(dataBlockSize: dataBlockSize, hashBlockSize: hashBlockSize, dataBlocks: blocks)
        var levels = geometry.levels > 0 ? [levelZero] : []
        for _ in 1..<max(1, geometry.levels) {
            var above: [UInt8] = []
            let below = levels[levels.count - 1]
            for (index, start) in stride(from: 0, to: below.count, by: hashBlockSize).enumerated() {
                let digest = below.withUnsafeBytes { hasher.digest(UnsafeRawBufferPointer(rebasing: $0[start..<start + hashBlockSize])) }
                Self.appendDigest(digest, to: &above, index: UInt64(index), digestsPerBlock: digestsPerBlock, hashBlockSize: hashBlockSize)
            }
            levels.append(above)
        }
        let root = levels.last.map { top in top.withUnsafeBytes { Array(hasher.digest($0)) } } ?? Array(levelZero.prefix(HashTreeGeometry.digestSize))
        var file = superblock.encoded()
        file += Array(repeating: 0, count: (hashBlockSize - file.count % hashBlockSize) % hashBlockSize)
        for level in levels.reversed() {
            file += level
        }
        return (file, root)
    }
}
