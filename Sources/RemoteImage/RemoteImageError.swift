import ImageModel
import LayeredDisk

/// Why a remote image could not be opened or read. Every URL in these errors
/// is redacted (see ``ImageURL``).
public enum RemoteImageError: Error, Sendable {
    /// No HTTP answer: connection refused, DNS, TLS, timeout, a body cut short.
    case transport(url: String, CurlError)
    /// The server answered with a status that means "no" (404, 401, 500 after
    /// every retry, …).
    case httpStatus(url: String, status: Int)
    /// The server does not serve byte ranges; `answer` says what it did.
    case rangesNotSupported(url: String, answer: String)
    /// The object behind the URL is not the one opened: 412, a new size, a new
    /// ETag, or a full 200 answer to a range request. Never mixed with old data.
    case imageChanged(url: String, reason: String)
    /// The server's answer breaks HTTP's rules for a range response.
    case malformedResponse(url: String, reason: String)
    /// A redirect was refused (https to http) or went on too long.
    case redirectRefused(url: String, reason: String)
    /// Transient failures went on past the retry count; `last` is the last one.
    indirect case retriesExhausted(attempts: Int, last: RemoteImageError)
    /// Transient failures went on so long that another attempt could not
    /// end within the retry policy's maximum time.
    indirect case retryTimeSpent(attempts: Int, maximumTime: Duration, last: RemoteImageError)
    /// The answer came in a content coding (gzip, br, …), not as the
    /// image's own bytes.
    case contentEncoded(url: String, coding: String)
    /// The server reports a size larger than ``RemoteIdentity/largestSize``.
    case tooLarge(url: String, size: UInt64)
}

extension RemoteImageError: CustomStringConvertible {
    public var description: String {
        switch self {
        case let .transport(url, error):
            "\(url): \(error)"
        case let .httpStatus(url, status):
            "\(url): server answered \(status) \(HTTPStatus.reason(status))"
        case let .rangesNotSupported(url, answer):
            "\(url): the server does not support range requests (\(answer))"
        case let .imageChanged(url, reason):
            "\(url): the remote image changed: \(reason)"
        case let .malformedResponse(url, reason):
            "\(url): unusable response: \(reason)"
        case let .redirectRefused(url, reason):
            "\(url): redirect refused: \(reason)"
        case let .retriesExhausted(attempts, last):
            "\(last) (gave up after \(attempts) attempts)"
        case let .retryTimeSpent(attempts, maximumTime, last):
            "\(last) (gave up after \(attempts) attempt\(attempts == 1 ? "" : "s"): another could not end within the retry time of \(maximumTime.components.seconds) s)"
        case let .contentEncoded(url, coding):
            "\(url): the server sent the image with Content-Encoding '\(coding)' although lazydisk asks for the bytes as they are (Accept-Encoding: identity)"
        case let .tooLarge(url, size):
            "\(url): the server reports \(size) bytes; lazydisk serves images of at most \(RemoteIdentity.largestSize) bytes (1 EiB)"
        }
    }
}

extension RemoteImageError: CausedFailure {
    public var cause: FailureCause {
        switch self {
        case .imageChanged: .imageChanged
        case .httpStatus(_, 401), .httpStatus(_, 403): .credentialsRejected
        case .transport, .retriesExhausted, .retryTimeSpent: .serverUnreachable
        case .httpStatus, .rangesNotSupported, .malformedResponse, .redirectRefused, .contentEncoded, .tooLarge: .serverRefused
        }
    }
}
