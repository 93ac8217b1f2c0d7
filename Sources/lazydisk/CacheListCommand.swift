import ArgumentParser
import FileCache
import Foundation

/// `lazydisk cache list`: every cached image, most recently used first, with
/// its size on disk, coverage and last use, and the total.
struct CacheListCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List the cached images.")

    @OptionGroup var cache: CacheOptions

    func run() async throws {
        let images = cache.location.inventory().sorted { $0.lastUse > $1.lastUse }
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
