import ArgumentParser
import FileCache
import Foundation
import RemoteImage
import SystemPackage

/// Where the persistent cache lives and whether to use the network at all.
struct CacheOptions: ParsableArguments {
    @Option(name: .customLong("cache"), help: ArgumentHelp(
        "Cache root (default: $XDG_CACHE_HOME/lazydisk, else ~/.cache/lazydisk); one directory per image inside.",
        valueName: "dir"))
    var cacheRoot: String?

    @Option(help: ArgumentHelp(
        "Keep all cached images under this size, removing the least recently used ones no process uses "
            + "(default: $\(Self.maxSizeVariable), else no limit).", valueName: "size"))
    var cacheMaxSize: ByteCount?

    @Flag(help: "Read straight from the server; neither use nor fill the cache.")
    var noCache = false

    @Flag(help: "Serve from the cache only; a sector it does not hold is an error.")
    var offline = false

    func validate() throws {
        if noCache && offline {
            throw ValidationError("--offline needs the cache; it cannot be combined with --no-cache")
        }
    }

    static let maxSizeVariable = "LAZYDISK_CACHE_MAX_SIZE"

    /// The limit on the cache root's size: `--cache-max-size`, else
    /// `LAZYDISK_CACHE_MAX_SIZE`, else none.
    func maximumSize(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> UInt64? {
        if let cacheMaxSize {
            return cacheMaxSize.bytes
        }
        guard let text = environment[Self.maxSizeVariable], !text.isEmpty else { return nil }
        guard let size = ByteCount(argument: text) else {
            throw CommandError("\(Self.maxSizeVariable)=\(text) is not a size (like 20G)")
        }
        return size.bytes
    }

    var location: CacheLocation {
        CacheLocation(root: cacheRoot.map { FilePath($0) } ?? CacheLocation.defaultRoot())
    }
}
