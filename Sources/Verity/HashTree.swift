import FileCache
import Fetching
import SystemPackage

/// A dm-verity hash tree in use: hands out verified digests of data blocks,
/// fetching the tree's own blocks lazily, a group at a time, each checked
/// against its parent up to the root hash, the one value trusted.
///
/// Verified groups are kept in memory (the upper levels always, level 0 up
/// to ``groupsKept`` groups) and, once ``keep(in:)`` names an image's cache
/// directory, on disk beside it, where they are checked again when read
/// back. Concurrent requests for one group share its fetch.
public actor HashTree {
    /// Hash blocks fetched and checked together: 256 KiB of a tree of 4 KiB
    /// blocks, the level-0 digests of 32 MiB of data, one request.
    static let groupBlocks: UInt64 = 64
    /// Level-0 groups kept in memory at most (2 MiB with 4 KiB blocks: the
    /// digests of 256 MiB of data; the rest is read back from the cache).
    static let groupsKept = 8

    public nonisolated let geometry: HashTreeGeometry
    public nonisolated let superblock: VeritySuperblock
    public nonisolated let rootHash: [UInt8]
    public nonisolated let hasher: BlockHasher
    private let source: any RangeSource
    private var file: HashBlockFile?
    private var loaded: [GroupKey: Loaded] = [:]
    private var loading: [GroupKey: Task<[UInt8], any Error>] = [:]
    private var clock = 0

    private struct GroupKey: Hashable {
        let level: Int
        let index: UInt64
    }

    private struct Loaded {
        let bytes: [UInt8]
        var lastUse: Int
    }

    /// Opens the tree whose bytes `source` reads (`size` of them) for the
    /// data `rootHash` names: reads and checks its superblock.
    public static func open(source: any RangeSource, size: UInt64, rootHash: [UInt8]) async throws -> HashTree {
        guard size >= UInt64(VeritySuperblock.size) else {
            throw HashTreeError.malformed("it has \(size) bytes, less than a superblock's 512")
        }
        let superblock = try VeritySuperblock(decoding: try await source.read(0..<UInt64(VeritySuperblock.size), for: .fill))
        let geometry = HashTreeGeometry(
            dataBlockSize: Int(superblock.dataBlockSize), hashBlockSize: Int(superblock.hashBlockSize), dataBlocks: superblock.dataBlocks)
        guard size >= geometry.treeBytes else {
            throw HashTreeError.malformed("it has \(size) bytes; a tree of \(superblock.dataBlocks) blocks takes \(geometry.treeBytes)")
        }
        return HashTree(superblock: superblock, geometry: geometry, rootHash: rootHash, source: source)
    }

    private init(superblock: VeritySuperblock, geometry: HashTreeGeometry, rootHash: [UInt8], source: any RangeSource) {
        self.superblock = superblock
        self.geometry = geometry
        self.rootHash = rootHash
        self.source = source
        hasher = BlockHasher(salt: superblock.salt)
    }

    /// Keeps the tree's verified blocks in `directory` (an image's cache)
    /// from now on, and looks there before fetching.
    public func keep(in directory: FilePath) async throws {
        let file = try HashBlockFile(directory: directory)
        let groups = loaded.map { (geometry.offset(level: $0.key.level, index: $0.key.index * Self.groupBlocks), $0.value.bytes) }
        try await BlockingWork.run {
            for (offset, bytes) in groups { file.write(bytes, at: offset) }
        }
        self.file = file
    }

    /// The verified digests of `blocks` (data blocks), for checking them.
    public func digests(ofBlocks blocks: Range<UInt64>) async throws -> BlockDigests {
        guard geometry.levels > 0, !blocks.isEmpty else {
            return BlockDigests(geometry: geometry, hasher: hasher, groups: [:], rootHash: rootHash)
        }
        let perBlock = UInt64(geometry.digestsPerBlock)
        let firstGroup = blocks.lowerBound / perBlock / Self.groupBlocks
        let lastGroup = (blocks.upperBound - 1) / perBlock / Self.groupBlocks
        var groups: [UInt64: [UInt8]] = [:]
        for index in firstGroup...lastGroup {
            groups[index] = try await group(GroupKey(level: 0, index: index))
        }
        return BlockDigests(geometry: geometry, hasher: hasher, groups: groups, rootHash: rootHash)
    }

    /// The bytes of a group of hash blocks, verified.
    private func group(_ key: GroupKey) async throws -> [UInt8] {
        clock += 1
        if let group = loaded[key] {
            loaded[key]?.lastUse = clock
            return group.bytes
        }
        if let task = loading[key] {
            return try await task.value
        }
        let task = Task { try await self.load(key) }
        loading[key] = task
        defer { loading[key] = nil }
        let bytes = try await task.value
        loaded[key] = Loaded(bytes: bytes, lastUse: clock)
        forgetLeastUsed()
        return bytes
    }

    private func forgetLeastUsed() {
        let levelZero = loaded.filter { $0.key.level == 0 }
        guard levelZero.count > Self.groupsKept, let oldest = levelZero.min(by: { $0.value.lastUse < $1.value.lastUse }) else { return }
        loaded[oldest.key] = nil
    }

    /// Reads a group from the file beside the cache, or fetches it, and
    /// checks each block against its parent; a block that fails is fetched
    /// once more before the tree is called wrong.
    private func load(_ key: GroupKey) async throws -> [UInt8] {
        let blocks = key.index * Self.groupBlocks..<min((key.index + 1) * Self.groupBlocks, geometry.levelBlocks[key.level])
        let byteRange = geometry.offset(level: key.level, index: blocks.lowerBound)..<geometry.offset(level: key.level, index: blocks.upperBound)
        var parents: [UInt64: [UInt8]] = [:]
        for block in blocks where key.level + 1 < geometry.levels {
            let parentGroup = geometry.parent(ofBlock: block).index / Self.groupBlocks
            if parents[parentGroup] == nil {
                parents[parentGroup] = try await group(GroupKey(level: key.level + 1, index: parentGroup))
            }
        }
        let check = { (bytes: [UInt8]) -> [UInt64] in
            blocks.filter { !self.blockMatches(bytes, block: $0, of: blocks, level: key.level, parents: parents) }
        }
        if let file, let stored = try? await BlockingWork.run({ file.read(count: byteRange.count, at: byteRange.lowerBound) }),
           check(stored).isEmpty {
            return stored
        }
        var fetched = try await source.read(byteRange, for: .fill)
        var failed = check(fetched)
        if !failed.isEmpty {
            fetched = try await source.read(byteRange, for: .fill)
            failed = check(fetched)
        }
        guard failed.isEmpty else { throw HashTreeError.treeBlockMismatch(level: key.level, index: failed[0]) }
        if let file {
            _ = try? await BlockingWork.run { [fetched] in file.write(fetched, at: byteRange.lowerBound) }
        }
        return fetched
    }

    private nonisolated func blockMatches(
        _ bytes: [UInt8], block: UInt64, of blocks: Range<UInt64>, level: Int, parents: [UInt64: [UInt8]]
    ) -> Bool {
        let size = geometry.hashBlockSize
        let start = Int(block - blocks.lowerBound) * size
        return bytes.withUnsafeBytes { raw in
            let hashBlock = UnsafeRawBufferPointer(rebasing: raw[start..<start + size])
            guard level + 1 < geometry.levels else {
                return rootHash.withUnsafeBytes { hasher.matches(hashBlock, expected: $0) }
            }
            let (parent, byteOffset) = geometry.parent(ofBlock: block)
            guard let group = parents[parent / Self.groupBlocks] else { return false }
            let at = Int(parent % Self.groupBlocks) * size + byteOffset
            return group.withUnsafeBytes { hasher.matches(hashBlock, expected: UnsafeRawBufferPointer(rebasing: $0[at..<at + HashTreeGeometry.digestSize])) }
        }
    }
}

extension HashTree {
    /// The data blocks among `bytes` (whole blocks of the image, from byte
    /// `offset`) that do not hash to what the tree says: for re-checking a
    /// cache, whose bytes were verified once on their way in.
    public func mismatchedBlocks(in bytes: [UInt8], at offset: UInt64) async throws -> [UInt64] {
        let size = geometry.dataBlockSize
        let first = offset / UInt64(size)
        let blocks = first..<min(first + UInt64(bytes.count / size), geometry.dataBlocks)
        let digests = try await digests(ofBlocks: blocks)
        return bytes.withUnsafeBytes { raw in
            digests.mismatchedBlocks(in: UnsafeRawBufferPointer(rebasing: raw[..<(blocks.count * size)]), from: first)
        }
    }
}
