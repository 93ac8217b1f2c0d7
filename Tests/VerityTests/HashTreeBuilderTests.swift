import Foundation
import HTTPTestServers
import Testing
import Verity

/// `lazydisk hash-tree` must make what `veritysetup format` makes, byte for
/// byte, so a tree from either verifies with the other and with the kernel.
@Suite("Hash tree builder against veritysetup")
struct HashTreeBuilderTests {
    static let uuid = "12345678-1234-1234-1234-123456789abc"

    /// Block counts that give no level (one block), one, a full level-0
    /// block, one past it, two levels; and with 512-byte hash blocks (16
    /// digests each), three and four.
    @Test(arguments: [(1, 4096), (2, 4096), (128, 4096), (129, 4096), (300, 4096), (300, 512), (4097, 512)])
    func theTreeIsVeritysetupsByteForByte(blocks: Int, hashBlockSize: Int) throws {
        for salt in ["-", "5a17ed0011223344"] {
            let directory = FileManager.default.temporaryDirectory.appending(path: "verity-\(UUID())")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: directory) }
            let data = pseudoRandomBytes(count: blocks * 4096, seed: UInt64(blocks))
            let dataFile = directory.appending(path: "data.img")
            let treeFile = directory.appending(path: "data.verity")
            try Data(data).write(to: dataFile)
            let printed = try veritysetup([
                "format", "--salt=\(salt)", "--uuid=\(Self.uuid)", "--hash-block-size=\(hashBlockSize)", dataFile.path, treeFile.path,
            ])
            let rootHash = printed.split(separator: "\n").first { $0.hasPrefix("Root hash:") }?.split(separator: "\t").last.map(String.init)

            var superblock = VeritySuperblock(
                dataBlocks: UInt64(blocks), salt: salt == "-" ? [] : [UInt8](hexString: salt)!,
                uuid: withUnsafeBytes(of: UUID(uuidString: Self.uuid)!.uuid) { Array($0) })
            superblock.hashBlockSize = UInt32(hashBlockSize)
            var builder = HashTreeBuilder(superblock: superblock)
            // Uneven pieces, as a download hands them over.
            var offset = 0
            while offset < data.count {
                let end = min(data.count, offset + 1000 + offset % 7777)
                data[offset..<end].withUnsafeBytes { builder.append($0) }
                offset = end
            }
            let (file, root) = try builder.finish()
            #expect(file == Array(try Data(contentsOf: treeFile)), "\(blocks) blocks, hash blocks of \(hashBlockSize), salt \(salt)")
            #expect(root.hexString == rootHash, "\(blocks) blocks, hash blocks of \(hashBlockSize), salt \(salt)")
            #expect(try VeritySuperblock(decoding: file) == superblock)
        }
    }

    @Test func dataThatEndsInsideABlockIsRefused() {
        var builder = HashTreeBuilder(superblock: VeritySuperblock(dataBlocks: 2))
        Array(repeating: UInt8(1), count: 4096 + 100).withUnsafeBytes { builder.append($0) }
        #expect(throws: HashTreeError.self) { try builder.finish() }
    }

    @Test func aSuperblockOfAnotherAlgorithmIsRefused() {
        var superblock = VeritySuperblock(dataBlocks: 8)
        superblock.algorithm = "sha1"
        #expect(throws: HashTreeError.self) { try VeritySuperblock(decoding: superblock.encoded()) }
        #expect(throws: HashTreeError.self) { try VeritySuperblock(decoding: Array(repeating: 0, count: 512)) }
    }

    /// Runs veritysetup (Debian cryptsetup-bin, installed by scripts/test)
    /// and returns what it printed.
    private func veritysetup(_ arguments: [String]) throws -> String {
        String(decoding: try runTool(veritysetupPath, arguments), as: UTF8.self)
    }
}
