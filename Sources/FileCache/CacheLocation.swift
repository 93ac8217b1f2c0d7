import Foundation
import RemoteImage
import SystemPackage

/// Where caches live: one directory per image under a root, named after the
/// image's URL without its query, so presigned URLs that differ only in their
/// signature share a cache and no secret reaches the file system.
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
        let home = environment["HOME"] ?? NSHomeDirectory()
        return FilePath(home).appending(".cache").appending("lazydisk")
    }

    /// The image's directory: a readable part of host and path, then a hash of
    /// the whole URL without query to keep names unique.
    public func directory(for url: ImageURL) -> FilePath {
        let readable = url.withoutQuery
            .replacingOccurrences(of: "https://", with: "")
            .replacingOccurrences(of: "http://", with: "")
            .map { $0.isLetter || $0.isNumber || ".-_".contains($0) ? $0 : "_" }
        let hash = Checksum.fnv1a(Array(url.withoutQuery.utf8))
        let hex = String(hash, radix: 16)
        return root.appending(String(readable.suffix(80)) + "-" + String(repeating: "0", count: 16 - hex.count) + hex)
    }

    /// Every image directory under the root.
    public func imageDirectories() -> [FilePath] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: root.string)) ?? []
        return names.sorted().map { root.appending($0) }
            .filter { FileManager.default.fileExists(atPath: $0.appending("meta").string) }
    }
}
