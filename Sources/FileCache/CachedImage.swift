import FoundationEssentials
import Glibc
import ImageModel
import SystemPackage

/// One image's cache as the cache root's owner sees it: what it takes on
/// disk, when it was last used, and whether a process uses it now.
public struct CachedImage: Sendable, Hashable {
    public var directory: FilePath
    /// The image's URL without its query, from the header; nil when the
    /// header cannot be read.
    public var url: String?
    /// Bytes the directory's files occupy (the data file is sparse).
    public var bytesOnDisk: UInt64
    public var lastUse: Date
    public var inUse: Bool

    init(directory: FilePath) {
        self.directory = directory
        let files = (try? FileManager.default.contentsOfDirectory(atPath: directory.string)) ?? []
        bytesOnDisk = files.reduce(0) { total, name in
            total + UInt64((try? directory.appending(name).stat(followTargetSymlink: false).sizeAllocated) ?? 0)
        }
        // Eager: a lazy compactMap runs its closure again on `first`'s
        // subscript, and a prune in another process that removes the file in
        // between made that second look nil, a trap inside the library.
        let modified = [CacheUse.fileName, "meta"].compactMap { try? directory.appending($0).stat().st_mtim }.first
        lastUse = modified.map { Date(timeIntervalSince1970: TimeInterval($0.tv_sec) + TimeInterval($0.tv_nsec) / 1e9) } ?? .distantPast
        inUse = CacheUse.isUsed(directory)
        url = (try? CacheFiles.contents(of: directory.appending("meta")))
            .flatMap { try? CacheHeader(decoding: Array($0.prefix(CacheHeader.size))) }?.identity.url
    }
}

extension CacheLocation {
    /// Every image cache under the root, least recently used first.
    public func inventory() -> [CachedImage] {
        imageDirectories().map(CachedImage.init(directory:)).sorted { $0.lastUse < $1.lastUse }
    }

    /// Removes the least recently used image caches that no process uses,
    /// until all of them together take at most `limit` bytes; `kept` (the
    /// cache the caller is about to fill) is never removed. Returns what was
    /// removed. A cache in use is skipped, even if the limit stays passed.
    @discardableResult
    public func prune(toAtMost limit: UInt64, keeping kept: FilePath? = nil) -> [CachedImage] {
        let images = inventory()
        var total = images.reduce(0) { $0 + $1.bytesOnDisk }
        var removed: [CachedImage] = []
        for image in images where total > limit && image.directory != kept {
            guard remove(image.directory) else { continue }
            total -= image.bytesOnDisk
            removed.append(image)
        }
        return removed
    }

    /// Removes an image's cache unless a process uses it: under an
    /// exclusive hold on its `inuse` file, the directory is first renamed
    /// aside (an opener that comes meanwhile makes a fresh one), then deleted.
    @discardableResult
    public func remove(_ directory: FilePath) -> Bool {
        guard let hold = CacheUse.holdUnused(directory) else { return false }
        defer { try? hold.close() }
        let aside = root.appending(".removing-\(getpid())-\(directory.lastComponent?.string ?? "cache")")
        guard rename(directory.string, aside.string) == 0 else { return false }
        try? FileManager.default.removeItem(atPath: aside.string)
        return true
    }
}
