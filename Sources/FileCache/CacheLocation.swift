import FoundationEssentials
import ImageModel
import SystemPackage

/// Where caches live: one directory per image under a root, named after the
/// image's URL without its query when the server proves the bytes' identity
/// (so presigned URLs that differ only in their signature share a cache),
/// else with a hash of the query too. No secret reaches the file system.
public struct CacheLocation: Sendable, Hashable {
    public var root: FilePath

    public init(root: FilePath) {
        self.root = root
    }

    /// `$XDG_CACHE_HOME/lazydisk`, else `~/.cache/lazydisk`.
    public static func defaultRoot(environment: [String: String] = ProcessInfo.processInfo.environment) -> FilePath {
        if let xdg = environment["XDG_CACHE_HOME"], xdg.hasPrefix("/") {
            return FilePath(xdg).appending("lazydisk")
        }
        let home = environment["HOME"] ?? FileManager.default.homeDirectoryForCurrentUser.path
        return FilePath(home).appending(".cache").appending("lazydisk")
    }

    /// Whether images that differ only in their URL's query may share one
    /// cache: only when the server names the bytes with a strong ETag, so
    /// that a query that selects another object (`download?id=2`) is told
    /// apart from one that only signs the request (a presigned URL). See
    /// docs/cache-format.md.
    public static func sharesAcrossQueries(_ identity: RemoteIdentity) -> Bool {
        identity.strongETag != nil
    }

    /// The cache directory of the image at `url` whose server described it
    /// as `identity`: for bytes verified against a root hash, the root
    /// hash's, which every URL of those bytes shares.
    public func directory(for url: ImageURL, identity: RemoteIdentity) -> FilePath {
        if let rootHash = identity.rootHash {
            return directory(forRootHash: rootHash)
        }
        return directory(for: url, sharedAcrossQueries: Self.sharesAcrossQueries(identity))
    }

    /// The directory of the image whose bytes the (hex) root hash names.
    public func directory(forRootHash rootHash: String) -> FilePath {
        root.appending("verity-sha256-" + rootHash.lowercased())
    }

    /// The cache directory to use without asking the server (offline, or to
    /// show or remove a cache): the root hash's when one is given, else the
    /// one keyed by the URL's query when it exists, else the one shared
    /// across queries.
    public func existingDirectory(for url: ImageURL, rootHash: String? = nil) -> FilePath {
        if let rootHash {
            return directory(forRootHash: rootHash)
        }
        let ownQuery = directory(for: url, sharedAcrossQueries: false)
        return FileManager.default.fileExists(atPath: ownQuery.appending("meta").string)
            ? ownQuery : directory(for: url, sharedAcrossQueries: true)
    }

    /// The image's directory: a readable part of host and path, then a hash of
    /// the URL without its query (or, unless shared, with it) to keep names
    /// unique. The query itself never reaches the file system.
    public func directory(for url: ImageURL, sharedAcrossQueries: Bool) -> FilePath {
        let readable = url.withoutQuery
            .replacing("https://", with: "")
            .replacing("http://", with: "")
            .map { $0.isLetter || $0.isNumber || ".-_".contains($0) ? $0 : "_" }
        let key = url.withoutQuery + (sharedAcrossQueries ? "" : url.query.map { "?" + $0 } ?? "")
        let hex = String(Checksum.fnv1a(Array(key.utf8)), radix: 16)
        return root.appending(String(readable.suffix(80)) + "-" + String(repeating: "0", count: 16 - hex.count) + hex)
    }

    /// Every image directory under the root.
    public func imageDirectories() -> [FilePath] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: root.string)) ?? []
        // Names starting with a dot are caches being removed.
        return names.filter { !$0.hasPrefix(".") }.sorted().map { root.appending($0) }
            .filter { FileManager.default.fileExists(atPath: $0.appending("meta").string) }
    }
}
