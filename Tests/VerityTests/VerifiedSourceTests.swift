import Fetching
import Foundation
import Synchronization
import SystemPackage
import Testing
import Verity

/// An object in memory read by ranges; the bytes of `corruptBlock` come
/// back flipped the first `corruptTimes` times they are asked for.
final class MemoryObject: RangeSource {
    let bytes: [UInt8]
    private let corruptBlock: UInt64?
    private let state: Mutex<(corruptLeft: Int, requests: [Range<UInt64>])>

    init(_ bytes: [UInt8], corruptBlock: UInt64? = nil, corruptTimes: Int = 0) {
        self.bytes = bytes
        self.corruptBlock = corruptBlock
        state = Mutex((corruptTimes, []))
    }

    var requests: [Range<UInt64>] { state.withLock { $0.requests } }

    func read(_ range: Range<UInt64>, for purpose: FetchPurpose) async throws -> [UInt8] {
        var piece = Array(bytes[Int(range.lowerBound)..<Int(range.upperBound)])
        state.withLock { state in
            state.requests.append(range)
            guard let block = corruptBlock, state.corruptLeft > 0, range.overlaps(block * 4096..<(block + 1) * 4096) else { return }
            state.corruptLeft -= 1
            piece[Int(block * 4096 - range.lowerBound)] ^= 0xff
        }
        return piece
    }
}

/// Collects what reaches the cache, in 4 KiB blocks.
final class BlockCollector: FetchSink {
    private let written = Mutex<[UInt64: Int]>([:])

    var bytesByOffset: [UInt64: Int] { written.withLock { $0 } }

    func write(_ bytes: UnsafeRawBufferPointer, at offset: UInt64) throws {
        written.withLock { $0[offset, default: 0] += bytes.count }
    }

    func covers(_ range: Range<UInt64>) -> Bool {
        var reached = range.lowerBound
        for (offset, count) in bytesByOffset.sorted(by: { $0.key < $1.key }) where offset <= reached {
            reached = max(reached, offset + UInt64(count))
        }
        return reached >= range.upperBound
    }

    func touches(_ range: Range<UInt64>) -> Bool {
        bytesByOffset.contains { ($0.key..<$0.key + UInt64($0.value)).overlaps(range) }
    }
}

@Suite("Reads checked against a hash tree")
struct VerifiedSourceTests {
    /// 8.2 MiB with 512-byte hash blocks (16 digests each): three levels,
    /// and three groups of level-0 blocks.
    static let blocks = 2_100
    static let geometry = HashTreeGeometry(dataBlockSize: 4096, hashBlockSize: 512, dataBlocks: UInt64(blocks))

    struct Image {
        let data: [UInt8]
        let tree: [UInt8]
        let rootHash: [UInt8]
    }

    static let image: Image = {
        let data = pseudoRandomBytes(count: blocks * 4096)
        var superblock = VeritySuperblock(dataBlocks: UInt64(blocks))
        superblock.hashBlockSize = 512
        var builder = HashTreeBuilder(superblock: superblock)
        data.withUnsafeBytes { builder.append($0) }
        let (tree, root) = try! builder.finish()
        return Image(data: data, tree: tree, rootHash: root)
    }()

    func verified(_ object: MemoryObject, tree: MemoryObject, rootHash: [UInt8] = image.rootHash) async throws -> VerifiedSource {
        let hashTree = try await HashTree.open(source: tree, size: UInt64(tree.bytes.count), rootHash: rootHash)
        return VerifiedSource(object, tree: hashTree, image: "test image")
    }

    /// The tree's blocks are fetched a group at a time as reads need them,
    /// from the top down: a read of the first blocks fetches the
    /// superblock, then the groups on its path; a read at the end, only the
    /// last group of level 0.
    @Test func goodBytesPassAndTheTreeIsFetchedLazily() async throws {
        let image = Self.image
        let tree = MemoryObject(image.tree)
        let source = try await verified(MemoryObject(image.data), tree: tree)
        #expect(try await source.read(100..<9000, for: .read) == Array(image.data[100..<9000]))
        let geometry = Self.geometry
        #expect(geometry.levels == 3 && geometry.levelBlocks[0] == 132)
        let group = { (level: Int, blocks: Range<UInt64>) in
            geometry.offset(level: level, index: blocks.lowerBound)..<geometry.offset(level: level, index: blocks.upperBound)
        }
        #expect(tree.requests == [0..<512, group(2, 0..<1), group(1, 0..<9), group(0, 0..<64)])
        let end = UInt64(image.data.count)
        #expect(try await source.read(end - 4096..<end, for: .read) == Array(image.data.suffix(4096)))
        #expect(tree.requests.dropFirst(4) == [group(0, 128..<132)])
    }

    /// A block that comes back wrong once is fetched once more, alone, and
    /// the read succeeds with the right bytes.
    @Test func aBlockWrongOnceIsFetchedAgain() async throws {
        let image = Self.image
        let object = MemoryObject(image.data, corruptBlock: 5, corruptTimes: 1)
        let source = try await verified(object, tree: MemoryObject(image.tree))
        let sink = BlockCollector()
        try await source.read(0..<(1 << 20), for: .read, into: sink)
        #expect(sink.covers(0..<(1 << 20)))
        let expected: [Range<UInt64>] = [0..<1 << 20, 5 * 4096..<6 * 4096]
        #expect(object.requests == expected)
    }

    /// A block wrong every time fails the read with its number, and only
    /// its bytes never reach the sink.
    @Test func aBlockWrongTwiceFailsAndNeverReachesTheSink() async throws {
        let image = Self.image
        let source = try await verified(MemoryObject(image.data, corruptBlock: 300, corruptTimes: 2), tree: MemoryObject(image.tree))
        let sink = BlockCollector()
        let error = await #expect(throws: BlockMismatch.self) { try await source.read(0..<(2 << 20), for: .read, into: sink) }
        #expect(error?.block == 300)
        #expect(error.map { "\($0)" }?.contains("does not match the image's root hash") == true)
        #expect(!sink.touches(300 * 4096..<301 * 4096))
        #expect(sink.covers(0..<300 * 4096) && sink.covers(301 * 4096..<(2 << 20)))
    }

    @Test func aTreeOfAnotherRootHashIsRefused() async throws {
        var other = Self.image.rootHash
        other[0] ^= 1
        let source = try await verified(MemoryObject(Self.image.data), tree: MemoryObject(Self.image.tree), rootHash: other)
        await #expect(throws: HashTreeError.self) { try await source.read(0..<4096, for: .read) }
    }

    /// Verified tree blocks kept beside a cache are used by the next
    /// process without fetching; damaged ones are fetched again.
    @Test func keptTreeBlocksAreReadBackAndCheckedAgain() async throws {
        let image = Self.image
        let directory = FilePath(FileManager.default.temporaryDirectory.appending(path: "tree-\(UUID())").path)
        try FileManager.default.createDirectory(atPath: directory.string, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory.string) }
        let first = try await HashTree.open(source: MemoryObject(image.tree), size: UInt64(image.tree.count), rootHash: image.rootHash)
        try await first.keep(in: directory)
        _ = try await first.digests(ofBlocks: 0..<UInt64(Self.blocks))

        let treeAgain = MemoryObject(image.tree)
        let second = try await HashTree.open(source: treeAgain, size: UInt64(image.tree.count), rootHash: image.rootHash)
        try await second.keep(in: directory)
        #expect(try await second.mismatchedBlocks(in: image.data, at: 0).isEmpty)
        #expect(treeAgain.requests == [0..<512], "only the superblock")

        let file = try FileDescriptor.open(directory.appending("hash-tree"), .readWrite)
        _ = try file.writeAll(toAbsoluteOffset: Int64(image.tree.count - 4096), Array(repeating: UInt8(7), count: 64))
        try file.close()
        let treeThird = MemoryObject(image.tree)
        let third = try await HashTree.open(source: treeThird, size: UInt64(image.tree.count), rootHash: image.rootHash)
        try await third.keep(in: directory)
        #expect(try await third.mismatchedBlocks(in: image.data, at: 0).isEmpty)
        #expect(treeThird.requests.count == 2, "the superblock and the damaged group: \(treeThird.requests)")
    }
}
