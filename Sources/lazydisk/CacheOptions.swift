import ArgumentParser
import FileCache
import FoundationEssentials
import SystemPackage

/// Where the persistent caches live: every command that touches them.
struct CacheRootOptions: ParsableArguments {
    @Option(name: .customLong("cache"), help: ArgumentHelp(
        "Cache root (default: $XDG_CACHE_HOME/lazydisk, else ~/.cache/lazydisk); one directory per image inside.",
        valueName: "dir"))
    var cacheRoot: String?

    var location: CacheLocation {
        CacheLocation(root: cacheRoot.map { FilePath($0) } ?? CacheLocation.defaultRoot())
    }
}

/// The bound on the cache root's size: the commands that fill it.
struct CacheLimitOptions: ParsableArguments {
    static let maxSizeVariable = "LAZYDISK_CACHE_MAX_SIZE"

    @Option(help: ArgumentHelp(
        "Keep all cached images under this size, removing the least recently used ones no process uses "
            + "(default: $\(Self.maxSizeVariable), else no limit).", valueName: "size"))
    var cacheMaxSize: ByteCount?

    /// `--cache-max-size`, else `LAZYDISK_CACHE_MAX_SIZE`, else none.
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
}

/// How a command that reads an image uses the cache: where it is, how
/// large it may grow, and whether to use it or the network at all.
struct CacheOptions: ParsableArguments {
    @OptionGroup var root: CacheRootOptions
    @OptionGroup var limit: CacheLimitOptions

    @Flag(help: "Neither use nor fill the cache on disk: read through 20 MiB of memory instead.")
    var noCache = false

    @Flag(help: "Serve from the cache only; a sector it does not hold is an error.")
    var offline = false

    func validate() throws {
        if noCache && offline {
            throw ValidationError("--offline needs the cache; it cannot be combined with --no-cache")
        }
    }

    var location: CacheLocation { root.location }
}
