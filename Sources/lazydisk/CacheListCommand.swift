import ArgumentParser
import FileCache
import FoundationEssentials
import SystemPackage

/// `lazydisk cache list`: every cached image, most recently used first, with
/// its size on disk, coverage and last use, and the total.
struct CacheListCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List the cached images.")

    @Flag(help: "Print a JSON array instead: url, directory, bytes_on_disk, cached_bytes, disk_size, last_use, in_use.")
    var json = false

    @OptionGroup var cache: CacheRootOptions

    /// One image in `--json` output.
    private struct Entry: Encodable {
        var url: String?
        var directory: String
        var bytesOnDisk: UInt64
        var cachedBytes: UInt64?
        var diskSize: UInt64?
        var lastUse: Date
        var inUse: Bool
    }

    func run() async throws {
        let images = cache.location.inventory().sorted { $0.lastUse > $1.lastUse }
        if json {
            try printJSON(images.map { image in
                let layer = try? FileCacheLayer.openExisting(at: image.directory, countsAsUse: false)
                return Entry(
                    url: image.url, directory: image.directory.string, bytesOnDisk: image.bytesOnDisk,
                    cachedBytes: layer?.presentBytes, diskSize: layer?.header.diskSize,
                    lastUse: image.lastUse, inUse: image.inUse)
            })
            return
        }
        guard !images.isEmpty else {
            print("no caches in \(cache.location.root)")
            return
        }
        for image in images {
            let coverage: String
            do {
                coverage = CacheReport.coverage(try FileCacheLayer.openExisting(at: image.directory, countsAsUse: false))
            } catch {
                coverage = "unusable (\(error))"
            }
            let used = image.inUse ? "in use" : "last used \(image.lastUse.formatted(.iso8601))"
            print("\(ByteFormat.size(image.bytesOnDisk)) on disk  \(coverage)  \(used)  \(image.url ?? image.directory.string)")
        }
        print("total \(ByteFormat.size(images.reduce(0) { $0 + $1.bytesOnDisk })) on disk in \(images.count) image(s)")
    }
}
