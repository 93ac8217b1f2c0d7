import ArgumentParser
import FileCache
import ImageModel
import RemoteImage
import SystemPackage

/// `lazydisk cache status URL`: what the cache holds for one image, with a map.
struct CacheStatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status", abstract: "Show an image's cache: identity, coverage, size on disk and a coverage map.")

    @OptionGroup var image: ImageArgument

    @Flag(help: "Print one JSON object instead (without the map).")
    var json = false

    /// What `--json` prints.
    private struct Status: Encodable {
        var url: String
        var directory: String
        var objectSize: UInt64
        var etag: String?
        var lastModified: String?
        var format: String
        var diskSize: UInt64
        var chunkSize: UInt32
        var cachedBytes: UInt64
        var bytesOnDisk: UInt64
    }

    @OptionGroup var cache: CacheRootOptions
    @OptionGroup var verified: RootHashOption

    func run() async throws {
        let directory = cache.location.existingDirectory(for: try await image.source().url, rootHash: verified.rootHash)
        let layer = try FileCacheLayer.openExisting(at: directory, countsAsUse: false)
        let header = layer.header
        // The data file is sparse: what it takes on disk is what is cached.
        let onDisk = UInt64((try? directory.appending("data").stat().sizeAllocated) ?? 0)
        if json {
            try printJSON(Status(
                url: header.identity.url, directory: directory.string, objectSize: header.identity.size, etag: header.identity.etag,
                lastModified: header.identity.lastModified, format: header.format, diskSize: header.diskSize,
                chunkSize: header.chunkSize, cachedBytes: layer.presentBytes,
                bytesOnDisk: onDisk))
            return
        }
        let rows: [(String, String)] = [
            ("url", header.identity.url),
            ("directory", directory.string),
            ("object size", "\(header.identity.size) bytes"),
            ("etag", header.identity.etag ?? "none"),
            ("last modified", header.identity.lastModified ?? "none"),
            ("format", header.format),
            ("disk size", "\(header.diskSize) bytes"),
            ("chunk size", ByteFormat.size(UInt64(header.chunkSize))),
            ("coverage", CacheReport.coverage(layer)),
            ("on disk", ByteFormat.size(onDisk)),
        ]
        printLabeledRows(rows)
        print()
        print(CacheReport.map(layer))
    }
}
