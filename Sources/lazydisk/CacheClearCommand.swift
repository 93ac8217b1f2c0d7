import ArgumentParser
import FileCache
import FoundationEssentials
import RemoteImage
import SystemPackage

/// `lazydisk cache clear URL` (or `--all`): forget caches no process uses.
struct CacheClearCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "clear", abstract: "Remove an image's cache.")

    @OptionGroup var image: ImageArgument

    @Flag(help: "Remove every cached image no running lazydisk uses.")
    var all = false

    @OptionGroup var cache: CacheRootOptions
    @OptionGroup var verified: RootHashOption

    func run() async throws {
        if all {
            let images = cache.location.inventory()
            for image in images where cache.location.remove(image.directory) {
                print("removed \(image.directory)")
            }
            let inUse = cache.location.inventory().count
            if inUse > 0 {
                print("\(inUse) cached image(s) in use were kept")
            }
            return
        }
        let url = try await image.source().url
        let directory = cache.location.existingDirectory(for: url, rootHash: verified.rootHash)
        guard FileManager.default.fileExists(atPath: directory.string) else {
            throw CommandError("no cache for \(url) in \(cache.location.root)")
        }
        guard cache.location.remove(directory) else {
            throw CommandError("the cache of \(url) is in use by a running lazydisk; stop it first")
        }
        print("removed \(directory)")
    }
}
