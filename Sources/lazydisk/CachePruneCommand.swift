import ArgumentParser
import FileCache
import SystemPackage

/// `lazydisk cache prune --max-size SIZE`: bring the cache root under a size.
struct CachePruneCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prune",
        abstract: "Remove the least recently used cached images, until all of them together are under a size.",
        discussion: "Images a running lazydisk uses are never removed."
    )

    @Option(help: ArgumentHelp("The size to stay under (0 removes every image not in use).", valueName: "size"))
    var maxSize: ByteCount

    @OptionGroup var cache: CacheRootOptions

    func run() async throws {
        let removed = cache.location.prune(toAtMost: maxSize.bytes)
        for image in removed {
            print("removed \(ByteFormat.size(image.bytesOnDisk))  \(image.url ?? image.directory.string)")
        }
        let left = cache.location.inventory()
        print("\(left.count) cached image(s) left, \(ByteFormat.size(left.reduce(0) { $0 + $1.bytesOnDisk })) on disk"
            + (left.contains(where: \.inUse) ? ", some in use" : ""))
    }
}
