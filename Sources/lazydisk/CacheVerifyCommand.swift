import ArgumentParser
import Fetching
import FileCache
import FoundationEssentials
import LayeredDisk
import RemoteImage
import SystemPackage
import Verity

/// `lazydisk cache verify URL`: re-read every cached chunk from the server
/// and compare; with a root hash, check every cached block against the
/// image's hash tree instead, fetching no data.
struct CacheVerifyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Compare every cached chunk with the server's bytes (with --root-hash, with the hash tree); exit 1 on any mismatch.")

    @OptionGroup var image: ImageArgument

    @OptionGroup var remote: RemoteOptions
    @OptionGroup var cache: CacheRootOptions

    func run() async throws {
        let remoteLayer = try await remote.openLayer(try await image.source(commandTimeLimit: remote.commandTimeLimit))
        let directory = cache.location.directory(for: remoteLayer.image.url, identity: remoteLayer.identity)
        guard FileManager.default.fileExists(atPath: directory.appending("meta").string) else {
            throw CommandError("no cache of \(remoteLayer.image.url) in \(cache.location.root): nothing to verify")
        }
        let cacheLayer = try await ImageStack.openCache(for: remoteLayer, location: cache.location, limit: nil, logger: remote.logger)
        let offline = try await LayeredDisk(readOnly: true, layers: [
            LayerConfiguration(cacheLayer),
            LayerConfiguration(OfflineLayer(sectorCount: cacheLayer.sectorCount, sectorSize: cacheLayer.sectorSize)),
        ])
        let server = try await LayeredDisk(readOnly: true, layers: [LayerConfiguration(remoteLayer)])
        var checked = 0
        var mismatched: [Int] = []
        for chunk in 0..<cacheLayer.chunkCount where cacheLayer.isPresent(chunk) {
            let bytes = cacheLayer.chunkLayout.byteRange(ofChunk: chunk)
            let cached = try await offline.readBytes(bytes)
            let differs = if let tree = remoteLayer.hashTree {
                try await !tree.mismatchedBlocks(in: cached, at: bytes.lowerBound).isEmpty
            } else {
                try await cached != server.readBytes(bytes)
            }
            if differs {
                mismatched.append(chunk)
            }
            checked += 1
        }
        let reference = remoteLayer.hashTree.map { "the hash tree of root hash \($0.rootHash.hexString)" } ?? "the server"
        print("checked \(checked) cached chunks of \(remoteLayer.image.url): \(mismatched.count) differ from \(reference)")
        if !mismatched.isEmpty {
            print("differing chunks: " + mismatched.prefix(20).map(String.init).joined(separator: ", ") + (mismatched.count > 20 ? ", …" : ""))
            throw ExitCode.failure
        }
    }
}
