/// What identifies the bytes behind a URL, so that a change is noticed before
/// old and new data are ever mixed.
public struct RemoteIdentity: Sendable, Hashable, Codable {
    /// The image's URL without its query.
    public var url: String
    /// Size of the whole object in bytes.
    public var size: UInt64
    public var etag: String?
    public var lastModified: String?
    /// The root hash (hex) of the hash tree the bytes are verified against,
    /// when they are: then it alone names them, whatever the URL or the
    /// validators say.
    public var rootHash: String?

    public init(url: String, size: UInt64, etag: String?, lastModified: String?, rootHash: String? = nil) {
        self.url = url
        self.size = size
        self.etag = etag
        self.lastModified = lastModified
        self.rootHash = rootHash
    }

    /// The largest image served, 1 EiB: far beyond any disk, and small
    /// enough that every offset, rounded up to a sector, a chunk or a
    /// request, and every count of them, fits in an `Int` with room to spare.
    public static let largestSize: UInt64 = 1 << 60

    /// A strong ETag names exact bytes; a weak one (`W/"…"`) does not.
    public var strongETag: String? {
        guard let etag, !etag.hasPrefix("W/") else { return nil }
        return etag
    }

    /// Whether `other` describes the same bytes: same size, and the same
    /// validators where both sides have them. (A cache of verified bytes is
    /// matched by its root hash instead: `CacheHeader.holdsData(of:)`.)
    public func matches(_ other: RemoteIdentity) -> Bool {
        size == other.size
            && (etag == nil || other.etag == nil || etag == other.etag)
            && (lastModified == nil || other.lastModified == nil || lastModified == other.lastModified)
    }
}
