import ArgumentParser
import FileCache

/// `lazydisk cache list`: every cached image, with its coverage.
struct CacheListCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List the cached images.")

    @OptionGroup var cache: CacheOptions

    func run() async throws {
        let directories = cache.location.imageDirectories()
        guard !directories.isEmpty else {
            print("no caches in \(cache.location.root)")
            return
        }
        for directory in directories {
            do {
                let layer = try FileCacheLayer.openExisting(at: directory)
                print("\(CacheReport.coverage(layer))  \(layer.header.identity.url)")
            } catch {
                print("unusable (\(error))  \(directory)")
            }
        }
    }
}
