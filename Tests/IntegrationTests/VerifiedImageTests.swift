import Foundation
import HTTPTestServers
import Testing

/// Images checked against a dm-verity hash tree made by `veritysetup
/// format`, through the commands users run, with nginx serving them. One
/// test at a time: each makes images, trees and several lazydisk processes,
/// and together they took both cores long enough to starve another suite's
/// time limit in a fresh-clone run.
@Suite("Verified images", .serialized)
struct VerifiedImageTests {
    static let size = 8 << 20
    /// What opening an image reads however warm its cache: the one-byte
    /// probe, and the first and last blocks (verified whole) that tell its
    /// format.
    static let openingBytes = 1 + 2 * 4096

    final class Setup: Sendable {
        let served = try! TemporaryDirectory()
        let work = try! TemporaryDirectory()
        let origin: NginxServer
        let image: Data
        /// The root hash veritysetup printed.
        let rootHash: String

        init() throws {
            let file = served.url.appending(path: "disk.img")
            try randomFile(at: file, size: VerifiedImageTests.size)
            image = try Data(contentsOf: file)
            let printed = String(decoding: try runTool(veritysetupPath, ["format", file.path, file.path + ".verity"]), as: UTF8.self)
            rootHash = try #require(printed.split(separator: "\n").first { $0.hasPrefix("Root hash:") }?.split(separator: "\t").last.map(String.init))
            origin = try NginxServer(root: served.url)
        }

        var treeFile: String { served.url.appending(path: "disk.img.verity").path }

        func verified(_ arguments: [String], tree: String? = nil) async throws -> LazyDiskRun {
            try await LazyDiskRun.run(arguments + ["--root-hash", rootHash, "--hash-tree", tree ?? treeFile])
        }

        func cache(_ name: String) -> String { work.url.appending(path: name).path }

        /// Bytes nginx sent for `name` so far (GETs that succeeded).
        func bytesSent(of name: String, by server: NginxServer? = nil) -> Int {
            (server ?? origin).accessLog.filter { $0.hasPrefix("GET /\(name) ") && $0.contains(" 20") }
                .compactMap { Int($0.split(separator: " ").last ?? "") }.reduce(0, +)
        }
    }

    @Test func aVeritysetupTreeVerifiesCatPullAndServe() async throws {
        let setup = try Setup()
        let url = setup.origin.url("disk.img")
        let cat = try await setup.verified(["cat", url, "--cache", setup.cache("cat")], tree: setup.origin.url("disk.img.verity"))
        #expect(cat.status == 0, "\(cat.error)")
        #expect(cat.output == setup.image)

        let pull = try await setup.verified(["pull", url, "--cache", setup.cache("pull")])
        #expect(pull.status == 0, "\(pull.error)")
        let offline = try await setup.verified(["cat", url, "--offline", "--cache", setup.cache("pull")])
        #expect(offline.output == setup.image, "\(offline.error)")

        let copy = setup.work.url.appending(path: "copy.img").path
        let serve = try await setup.verified(["serve", url, "--cache", setup.cache("serve"), "--run", "nbdcopy \"$uri\" \(copy)"])
        #expect(serve.status == 0, "\(serve.error)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: copy)) == setup.image)

        let info = String(decoding: try await setup.verified(["info", url]).output, as: UTF8.self)
        #expect(info.contains("root hash      \(setup.rootHash)"), "\(info)")
        #expect(info.contains("covers the image's \(Self.size) bytes"), "\(info)")
    }

    /// A qcow2's tree covers the file as published, so what is fetched is
    /// what is checked; the disk it decodes to reads back exactly.
    @Test func aQcow2IsVerifiedAsItsFile() async throws {
        let setup = try Setup()
        let qcow2 = setup.served.url.appending(path: "disk.qcow2").path
        try runTool(systemToolPath("qemu-img"), ["convert", "-f", "raw", "-O", "qcow2", setup.served.url.appending(path: "disk.img").path, qcow2])
        let printed = String(decoding: try runTool(veritysetupPath, ["format", qcow2, qcow2 + ".verity"]), as: UTF8.self)
        let rootHash = try #require(printed.split(separator: "\n").first { $0.hasPrefix("Root hash:") }?.split(separator: "\t").last.map(String.init))
        let copy = setup.work.url.appending(path: "copy.img").path
        let serve = try await LazyDiskRun.run([
            "serve", setup.origin.url("disk.qcow2"), "--cache", setup.cache("qcow2"), "--root-hash", rootHash, "--hash-tree", qcow2 + ".verity",
            "--run", "nbdcopy \"$uri\" \(copy)",
        ])
        #expect(serve.status == 0, "\(serve.error)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: copy)) == setup.image)
    }

    /// `lazydisk hash-tree` makes veritysetup's tree byte for byte, from a
    /// file or streamed from a URL, and prints its root hash.
    @Test func theTreeCommandMakesVeritysetupsTree() async throws {
        let setup = try Setup()
        let image = setup.served.url.appending(path: "disk.img").path
        let uuid = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
        let expected = setup.work.url.appending(path: "expected.verity").path
        let printed = String(decoding: try runTool(veritysetupPath, ["format", "--salt=-", "--uuid=\(uuid)", image, expected]), as: UTF8.self)
        let rootHash = try #require(printed.split(separator: "\n").first { $0.hasPrefix("Root hash:") }?.split(separator: "\t").last.map(String.init))
        for (name, input) in [("file", image), ("url", setup.origin.url("disk.img"))] {
            let output = setup.work.url.appending(path: "\(name).verity").path
            let made = try await LazyDiskRun.run(["hash-tree", input, "-o", output, "--salt", "-", "--uuid", uuid])
            #expect(made.status == 0, "\(made.error)")
            #expect(String(decoding: made.output, as: UTF8.self).contains("root hash      \(rootHash)"), "\(String(decoding: made.output, as: UTF8.self))")
            #expect(try Data(contentsOf: URL(fileURLWithPath: output)) == Data(contentsOf: URL(fileURLWithPath: expected)), "from a \(name)")
        }
    }

    /// The root hash, not the URL or the ETag, names a verified cache: a
    /// mirror's URL and a re-uploaded object (new ETag, same bytes) read
    /// from it without fetching; a cache of unverified bytes is not used.
    @Test func theRootHashNamesTheCache() async throws {
        let setup = try Setup()
        let pull = try await setup.verified(["pull", setup.origin.url("disk.img"), "--cache", setup.cache("c")])
        #expect(pull.status == 0, "\(pull.error)")
        #expect(setup.bytesSent(of: "disk.img") >= Self.size)

        try setup.image.write(to: setup.served.url.appending(path: "mirror.img"))
        let mirror = try await setup.verified(["cat", setup.origin.url("mirror.img"), "--cache", setup.cache("c")])
        #expect(mirror.output == setup.image, "\(mirror.error)")
        #expect(setup.bytesSent(of: "mirror.img") <= Self.openingBytes, "only what opening an image reads")

        let before = setup.bytesSent(of: "disk.img")
        let file = setup.served.url.appending(path: "disk.img").path
        try FileManager.default.setAttributes([.modificationDate: Date(timeIntervalSince1970: 1_000_000)], ofItemAtPath: file)
        let reuploaded = try await setup.verified(["cat", setup.origin.url("disk.img"), "--cache", setup.cache("c")])
        #expect(reuploaded.output == setup.image, "\(reuploaded.error)")
        #expect(setup.bytesSent(of: "disk.img") - before <= Self.openingBytes, "a new ETag, the same bytes: nothing fetched")

        let plain = try await LazyDiskRun.run(["pull", setup.origin.url("mirror.img"), "--cache", setup.cache("plain")])
        #expect(plain.status == 0)
        let sentBefore = setup.bytesSent(of: "mirror.img")
        let verified = try await setup.verified(["cat", setup.origin.url("mirror.img"), "--cache", setup.cache("plain")])
        #expect(verified.output == setup.image)
        #expect(setup.bytesSent(of: "mirror.img") - sentBefore >= Self.size, "unverified bytes are not trusted")
    }

    /// `cache verify` with a root hash checks every cached block against
    /// the tree, fetching no data: a block damaged on disk is reported.
    @Test func cacheVerifyChecksCachedBlocksAgainstTheTree() async throws {
        let setup = try Setup()
        let url = setup.origin.url("disk.img")
        let cache = setup.cache("verify")
        #expect(try await setup.verified(["pull", url, "--cache", cache]).status == 0)
        let clean = try await setup.verified(["cache", "verify", url, "--cache", cache])
        #expect(clean.status == 0, "\(clean.error)")
        let data = try FileHandle(forWritingTo: URL(fileURLWithPath: cache).appending(path: "verity-sha256-\(setup.rootHash)/data"))
        try data.seek(toOffset: 5 * 65536 + 4096)
        try data.write(contentsOf: Data(repeating: 0xee, count: 16))
        try data.close()
        let before = setup.bytesSent(of: "disk.img")
        let damaged = try await setup.verified(["cache", "verify", url, "--cache", cache])
        let output = String(decoding: damaged.output, as: UTF8.self)
        #expect(damaged.status == 1)
        #expect(output.contains("1 differ from the hash tree of root hash \(setup.rootHash)"), "\(output)")
        #expect(output.contains("differing chunks: 5"), "\(output)")
        #expect(setup.bytesSent(of: "disk.img") - before <= Self.openingBytes, "no data fetched")
    }

    @Test func verityArgumentsThatCannotWorkAreRefusedClearly() async throws {
        let setup = try Setup()
        let url = setup.origin.url("disk.img")
        let notHex = try await LazyDiskRun.run(["cat", url, "--root-hash", "xyz", "--hash-tree", setup.treeFile])
        #expect(notHex.status != 0 && notHex.error.contains("64 hex digits"), "\(notHex.error)")
        let alone = try await LazyDiskRun.run(["cat", url, "--root-hash", setup.rootHash])
        #expect(alone.status != 0 && alone.error.contains("go together"), "\(alone.error)")

        var longer = setup.image
        longer.append(Data(count: 4096))
        try longer.write(to: setup.served.url.appending(path: "longer.img"))
        let otherSize = try await setup.verified(["cat", setup.origin.url("longer.img"), "--no-cache"])
        #expect(otherSize.status != 0)
        #expect(otherSize.error.contains("covers \(Self.size) bytes (2048 blocks of 4096); the image has \(Self.size + 4096)"), "\(otherSize.error)")

        let notATree = setup.work.url.appending(path: "not-a-tree")
        try Data(repeating: 7, count: 8192).write(to: notATree)
        let malformed = try await setup.verified(["cat", url, "--no-cache"], tree: notATree.path)
        #expect(malformed.status != 0 && malformed.error.contains("veritysetup superblock"), "\(malformed.error)")
        #expect(malformed.output.isEmpty)
        let directory = try await setup.verified(["cat", url, "--no-cache"], tree: setup.work.url.path)
        #expect(directory.status != 0 && directory.error.contains("it is a directory, not a regular file"), "\(directory.error)")
    }

    /// A cache tier whose copy of one 1 MiB slice was overwritten with other
    /// bytes of the same size: validators cannot tell (the ETag is the
    /// origin's), so a read without a root hash returns the wrong bytes.
    /// With one, reads of that slice fail naming the block, reads of every
    /// other slice succeed, and nothing of the slice is cached.
    @Test func aPoisonedTierSliceIsCaughtOnlyWithARootHash() async throws {
        let setup = try Setup()
        let tier = try NginxServer(tierInFrontOf: setup.origin)
        let url = tier.url("disk.img")
        let warm = try await LazyDiskRun.run(["cat", url, "--no-cache"])
        #expect(warm.output == setup.image)

        let slice = 3 << 20..<4 << 20
        let poison = try poisonTierSlice(tier, key: "/disk.imgbytes=\(slice.lowerBound)-\(slice.upperBound - 1)", bytes: slice.count)
        let plain = try await LazyDiskRun.run(["cat", url, "--no-cache", "--offset", "3M", "--length", "1M"])
        #expect(plain.status == 0)
        #expect(plain.output == poison, "without a root hash the wrong bytes are returned")

        let cache = setup.cache("tier")
        let bad = try await setup.verified(["cat", url, "--cache", cache, "--offset", "\(slice.lowerBound + 8192)", "--length", "4096"])
        #expect(bad.status != 0)
        // The read's chunk (64 KiB) is fetched whole: its first bad block is named.
        #expect(bad.error.contains("block \((slice.lowerBound + 8192) / 65536 * 16) (bytes \(slice.lowerBound)-"), "\(bad.error)")
        #expect(bad.error.contains("does not match the image's root hash"), "\(bad.error)")
        for (offset, length) in [(0, slice.lowerBound), (slice.upperBound, Self.size - slice.upperBound)] {
            let good = try await setup.verified(["cat", url, "--cache", cache, "--offset", "\(offset)", "--length", "\(length)"])
            #expect(good.status == 0, "\(good.error)")
            #expect(good.output == setup.image[offset..<offset + length])
        }
        let cached = try await setup.verified(["cat", url, "--offline", "--cache", cache, "--offset", "3M", "--length", "1M"])
        #expect(cached.status != 0, "nothing of the bad slice is cached")
        let dataFile = try #require(FileManager.default.enumerator(atPath: cache)?.compactMap { $0 as? String }.first { $0.hasSuffix("/data") })
        let stored = try Data(contentsOf: URL(fileURLWithPath: cache).appending(path: dataFile))
        for block in stride(from: 0, to: slice.count, by: 4096) {
            #expect(stored[slice.lowerBound + block..<slice.lowerBound + block + 4096] != poison[block..<block + 4096])
        }
    }

    /// Two versions of an ext4 image, built by `mkfs.ext4 -d` from two
    /// directory trees that differ in three files and one new one, each
    /// with a salt-less tree: version 2 fetches about only the chunks that
    /// differ, and the rest is copied from version 1's cache and checked.
    final class Versions: Sendable {
        let setup: Setup
        let roots: [String]

        init() throws {
            setup = try Setup()
            let trees = [setup.work.url.appending(path: "tree1"), setup.work.url.appending(path: "tree2")]
            try FileManager.default.createDirectory(at: trees[0], withIntermediateDirectories: true)
            for index in 0..<120 {
                try randomFile(at: trees[0].appending(path: "file\(index)"), size: 20_000 + index * 1_531)
            }
            try FileManager.default.copyItem(at: trees[0], to: trees[1])
            for index in [7, 50, 99] {
                try randomFile(at: trees[1].appending(path: "file\(index)"), size: 20_000 + index * 1_531)
            }
            try randomFile(at: trees[1].appending(path: "zz-new"), size: 300_000)
            var roots: [String] = []
            for (number, tree) in trees.enumerated() {
                let image = setup.served.url.appending(path: "v\(number + 1).img").path
                let uuid = "11111111-2222-3333-4444-555555555555"
                try runTool(systemToolPath("mkfs.ext4"), ["-q", "-F", "-b", "4096", "-U", uuid, "-E", "hash_seed=\(uuid),root_owner=0:0", "-d", tree.path, image, "24M"])
                let printed = String(decoding: try runTool(veritysetupPath, ["format", "--salt=-", image, image + ".verity"]), as: UTF8.self)
                roots.append(try #require(printed.split(separator: "\n").first { $0.hasPrefix("Root hash:") }?.split(separator: "\t").last.map(String.init)))
            }
            self.roots = roots
        }

        func image(_ version: Int) throws -> Data { try Data(contentsOf: setup.served.url.appending(path: "v\(version).img")) }

        func run(_ command: String, version: Int, _ extra: [String] = []) async throws -> LazyDiskRun {
            let image = setup.served.url.appending(path: "v\(version).img").path
            return try await LazyDiskRun.run(
                [command, setup.origin.url("v\(version).img"), "--root-hash", roots[version - 1], "--hash-tree", image + ".verity"] + extra)
        }

        /// Bytes of the distinct 64 KiB chunks of version 2: what a pull of
        /// it fetches at least when no other cache holds any of them (a
        /// chunk that repeats, zeros above all, is copied from the image's
        /// own cache once there).
        func distinctBytes() throws -> Int {
            let two = try image(2)
            return Set(stride(from: 0, to: two.count, by: 65536).map { two[$0..<min($0 + 65536, two.count)] }).count * 65536
        }

        /// Bytes of the 64 KiB chunks of version 2 that differ from version 1's at the same offset.
        func differingBytes() throws -> Int {
            let (one, two) = (try image(1), try image(2))
            return stride(from: 0, to: two.count, by: 65536).filter { one[$0..<min($0 + 65536, one.count)] != two[$0..<min($0 + 65536, two.count)] }.count * 65536
        }
    }

    @Test func aNewVersionFetchesOnlyTheChunksThatDiffer() async throws {
        let versions = try Versions()
        let cache = versions.setup.cache("versions")
        #expect(try await versions.run("pull", version: 1, ["--cache", cache]).status == 0)
        let differing = try versions.differingBytes()
        #expect(differing > 0 && differing < 24 << 20 / 10, "the versions share most chunks: \(differing) bytes differ")
        let pull = try await versions.run("pull", version: 2, ["--cache", cache])
        #expect(pull.status == 0, "\(pull.error)")
        let fetched = versions.setup.bytesSent(of: "v2.img")
        #expect(Double(fetched) <= 1.2 * Double(differing), "fetched \(fetched) for \(differing) bytes of chunks that differ")
        #expect(String(decoding: pull.output, as: UTF8.self).contains("were copied from caches of verified images"))
        let back = try await versions.run("cat", version: 2, ["--cache", cache, "--offline"])
        #expect(back.output == (try versions.image(2)), "\(back.error)")
    }

    /// A copy is checked like a fetch: with version 1's cached bytes
    /// damaged, version 2 fetches every chunk it does not hold itself. A
    /// cleared cache is forgotten: nothing is copied from it, and its
    /// records leave the index.
    @Test func copiesAreCheckedAndClearedCachesForgotten() async throws {
        let versions = try Versions()
        let distinct = try versions.distinctBytes()
        let cache = versions.setup.cache("versions")
        #expect(try await versions.run("pull", version: 1, ["--cache", cache]).status == 0)
        let oneDirectory = URL(fileURLWithPath: cache).appending(path: "verity-sha256-\(versions.roots[0])")
        let data = try FileHandle(forWritingTo: oneDirectory.appending(path: "data"))
        try data.write(contentsOf: Data(repeating: 0x5a, count: 24 << 20))
        try data.close()
        let pull = try await versions.run("pull", version: 2, ["--cache", cache])
        #expect(pull.status == 0, "\(pull.error)")
        #expect(versions.setup.bytesSent(of: "v2.img") >= distinct, "no damaged chunk is copied")
        let back = try await versions.run("cat", version: 2, ["--cache", cache, "--offline"])
        #expect(back.output == (try versions.image(2)))

        let fresh = versions.setup.cache("fresh")
        #expect(try await versions.run("pull", version: 1, ["--cache", fresh]).status == 0)
        let clear = try await LazyDiskRun.run(["cache", "clear", versions.setup.origin.url("v1.img"), "--cache", fresh, "--root-hash", versions.roots[0]])
        #expect(clear.status == 0, "\(clear.error)")
        let before = versions.setup.bytesSent(of: "v2.img")
        #expect(try await versions.run("pull", version: 2, ["--cache", fresh]).status == 0)
        #expect(versions.setup.bytesSent(of: "v2.img") - before >= distinct, "nothing copied from a cleared cache")
        let index = try Data(contentsOf: URL(fileURLWithPath: fresh).appending(path: "content-index"))
        let hex = Array(versions.roots[0])
        let rootOne = Data(stride(from: 0, to: hex.count, by: 2).map { UInt8(String(hex[$0...$0 + 1]), radix: 16)! })
        #expect(index.range(of: rootOne) == nil, "the cleared cache's records left the index")
    }

    /// Overwrites the body of the tier's cached response for `key` (nginx
    /// keeps it at the end of the cache file) with random bytes; returns them.
    private func poisonTierSlice(_ tier: NginxServer, key: String, bytes: Int) throws -> Data {
        let root = tier.tierCacheDirectory
        let files = FileManager.default.enumerator(at: root, includingPropertiesForKeys: nil)?.compactMap { $0 as? URL } ?? []
        let file = try #require(files.first { url in
            (try? Data(contentsOf: url)).map { $0.range(of: Data("\nKEY: \(key)\n".utf8)) != nil } ?? false
        }, "the tier cached \(key)")
        var contents = try Data(contentsOf: file)
        var poison = Data(count: bytes)
        for index in poison.indices { poison[index] = UInt8.random(in: 0...255) }
        contents.replaceSubrange(contents.count - bytes..<contents.count, with: poison)
        try contents.write(to: file)
        return poison
    }
}
