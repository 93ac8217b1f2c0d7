import ArgumentParser
import FileCache
import RemoteImage
import SystemPackage

/// Where the persistent cache lives and whether to use the network at all.
struct CacheOptions: ParsableArguments {
    @Option(name: .customLong("cache"), help: ArgumentHelp(
        "Cache root (default: $XDG_CACHE_HOME/lazydisk, else ~/.cache/lazydisk); one directory per image inside.",
        valueName: "dir"))
    var cacheRoot: String?

    @Flag(help: "Read straight from the server; neither use nor fill the cache.")
    var noCache = false

    @Flag(help: "Serve from the cache only; a sector it does not hold is an error.")
    var offline = false

    func validate() throws {
        if noCache && offline {
            throw ValidationError("--offline needs the cache; it cannot be combined with --no-cache")
        }
    }

    var location: CacheLocation {
        CacheLocation(root: cacheRoot.map { FilePath($0) } ?? CacheLocation.defaultRoot())
    }
}
