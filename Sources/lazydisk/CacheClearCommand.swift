import ArgumentParser
import FileCache
import Foundation
import RemoteImage

/// `lazydisk cache clear URL`: forget an image's cache.
struct CacheClearCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "clear", abstract: "Remove an image's cache.")

    @OptionGroup var image: ImageArgument

    @OptionGroup var cache: CacheOptions

    func run() async throws {
        let url = try image.imageURL()
        let directory = cache.location.existingDirectory(for: url)
        guard FileManager.default.fileExists(atPath: directory.string) else {
            throw CommandError("no cache for \(url) in \(cache.location.root)")
        }
        try FileManager.default.removeItem(atPath: directory.string)
        print("removed \(directory)")
    }
}
