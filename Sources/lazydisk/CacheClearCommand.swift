import ArgumentParser
import FileCache
import Foundation
import RemoteImage

/// `lazydisk cache clear URL`: forget an image's cache.
struct CacheClearCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "clear", abstract: "Remove an image's cache.")

    @Argument(help: "The image's http(s) URL.")
    var url: String

    @OptionGroup var cache: CacheOptions

    func run() async throws {
        let directory = cache.location.directory(for: try ImageURL(url))
        guard FileManager.default.fileExists(atPath: directory.string) else {
            throw CommandError("no cache for \(try ImageURL(url)) in \(cache.location.root)")
        }
        try FileManager.default.removeItem(atPath: directory.string)
        print("removed \(directory)")
    }
}
