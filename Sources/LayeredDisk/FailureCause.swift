/// Why a request to the disk failed, in words an operator acts on: the
/// label of the failure metrics and the word a failed guest request is
/// logged under. Each layer's errors say which cause they are.
public enum FailureCause: String, Sendable, CaseIterable {
    /// The object behind the URL is not the one the disk was opened on.
    case imageChanged = "image_changed"
    /// The server refused the credentials (401, 403).
    case credentialsRejected = "credentials_rejected"
    /// The server could not be reached, or kept failing, after every retry.
    case serverUnreachable = "server_unreachable"
    /// The server answered, but not with the bytes asked for (404, a
    /// malformed answer, no ranges).
    case serverRefused = "server_refused"
    /// `--offline`, and the cache does not hold the bytes.
    case notCached = "not_cached"
    /// The image's own structure is damaged or uses what cannot be read
    /// (a qcow2 table pointing past the file's end).
    case corruptImage = "corrupt_image"
    /// The image's bytes do not match its root hash: the server, or a
    /// cache, CDN or mirror on the way, serves other bytes than the ones
    /// the root hash names (or the hash tree is not the root hash's).
    case verificationFailed = "verification_failed"
    /// The cache's files could not be read or written.
    case cacheStorage = "cache_storage"
    /// The RAM overlay is full.
    case noSpace = "no_space"
    /// A write to a read-only disk.
    case readOnly = "read_only"
    /// The request itself was wrong: past the end, misaligned.
    case invalidRequest = "invalid_request"
    /// Anything no layer classified.
    case other

    /// The cause of `error`, `.other` when it does not say.
    public init(of error: any Error) {
        self = (error as? any CausedFailure)?.cause ?? .other
    }
}

/// An error that knows its ``FailureCause``.
public protocol CausedFailure: Error {
    var cause: FailureCause { get }
}

extension DiskError: CausedFailure {
    public var cause: FailureCause {
        switch self {
        case .readOnly: .readOnly
        case .noSpace: .noSpace
        case .outOfRange, .invalidCount, .unalignedLength: .invalidRequest
        }
    }
}
