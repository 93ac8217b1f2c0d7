import LayeredDisk
import SystemPackage

/// Why a cache's files cannot be used as they are. Opening a cache turns
/// every one of these into a rebuild with a warning; none is ever served.
public enum CacheFileError: Error, Sendable, Hashable, CustomStringConvertible {
    /// A file is shorter than its header says.
    case truncated(String)
    /// Bytes that do not parse or whose checksum does not match.
    case corrupt(String)
    /// A format version this build does not read.
    case unsupportedVersion(UInt32)
    /// The image's URL (without query) and validators do not fit in a header.
    case headerTooLarge
    /// A system call failed on the cache's files.
    case system(String, Errno)
    /// A sector the cache does not hold was read with no network to fall back on.
    case notCached(sectors: Range<UInt64>)
    /// No cache exists for the image (offline use needs one).
    case missing(String)

    public var description: String {
        switch self {
        case let .truncated(what): "cache is truncated: \(what)"
        case let .corrupt(what): "cache is corrupt: \(what)"
        case let .unsupportedVersion(version): "cache format version \(version) is not supported (this build reads \(CacheHeader.currentVersion))"
        case .headerTooLarge: "the image's URL and validators do not fit in the cache header"
        case let .system(operation, errno): "cache \(operation) failed: \(errno)"
        case let .notCached(sectors): "sectors \(sectors.lowerBound) to \(sectors.upperBound - 1) are not in the cache, and --offline forbids fetching them"
        case let .missing(directory): "no cache at \(directory)"
        }
    }
}

extension CacheFileError: CausedFailure {
    public var cause: FailureCause {
        if case .notCached = self { return .notCached }
        return .cacheStorage
    }
}
