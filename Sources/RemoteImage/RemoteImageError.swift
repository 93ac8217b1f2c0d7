import HTTPClient
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
    /// The same with an S3-style error document naming the cause (`code`:
    /// SignatureDoesNotMatch, ExpiredToken, NoSuchKey, …).
    case serviceError(url: String, status: Int, code: String)
    /// The server refused the credentials (`rejection` says how), and
    /// getting new ones failed (`failure` says why, naming the command or
    /// file, never a secret).
    case refreshFailed(url: String, rejection: String, failure: String)
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
    /// The object has no bytes: there is no disk in it.
    case empty(url: String)
}

extension RemoteImageError: CustomStringConvertible {
    public var description: String {
        switch self {
        case let .transport(url, error):
            "\(url): \(error)"
        case let .httpStatus(url, status):
            "\(url): server answered \(status) \(HTTPStatus.reason(status))"
        case let .serviceError(url, status, code):
            "\(url): server answered \(status) \(HTTPStatus.reason(status)) (\(code)\(Self.explanations[code].map { ": \($0)" } ?? ""))"
        case let .refreshFailed(url, rejection, failure):
            "\(url): the server refused the credentials (\(rejection)), and refreshing them failed: \(failure)"
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
        case let .empty(url):
            "\(url): the image is empty (0 bytes): there is no disk to serve"
        }
    }
}

extension RemoteImageError: CausedFailure {
    public var cause: FailureCause {
        switch self {
        case .imageChanged: .imageChanged
        case .refreshFailed: .credentialsRejected
        case _ where rejectsCredentials: .credentialsRejected
        case .transport, .retriesExhausted, .retryTimeSpent: .serverUnreachable
        case .httpStatus, .serviceError, .rangesNotSupported, .malformedResponse, .redirectRefused, .contentEncoded, .tooLarge, .empty:
            .serverRefused
        }
    }

    /// Whether the server refused the request's credentials: 401, 403, or
    /// an S3 error code that says so; new credentials may succeed.
    public var rejectsCredentials: Bool {
        switch self {
        case .httpStatus(_, 401), .httpStatus(_, 403): true
        case let .serviceError(_, status, code): status == 401 || status == 403 || Self.credentialCodes.contains(code)
        default: false
        }
    }

    /// The status of a refusal, with or without an error document.
    public var refusalStatus: Int? {
        switch self {
        case let .httpStatus(_, status), let .serviceError(_, status, _): status
        default: nil
        }
    }

    /// The status (and code) of a refusal, for a message that goes on.
    var statusSummary: String {
        switch self {
        case let .httpStatus(_, status): "\(status) \(HTTPStatus.reason(status))"
        case let .serviceError(_, status, code): "\(status) \(HTTPStatus.reason(status)), \(code)"
        default: "\(self)"
        }
    }

    private static let credentialCodes: Set<String> = [
        "ExpiredToken", "InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken", "TokenRefreshRequired", "AccessDenied",
        "AuthenticationFailed", "AuthorizationFailure",
    ]

    /// What an S3 (or Azure) error code means for a user of lazydisk.
    private static let explanations = [
        "SignatureDoesNotMatch": "the signature was refused; check the secret key",
        "InvalidAccessKeyId": "the access key is unknown to the server",
        "ExpiredToken": "the session token has expired",
        "InvalidToken": "the session token is not valid",
        "AccessDenied": "these credentials may not read this object",
        "NoSuchKey": "no object has this key",
        "NoSuchBucket": "no bucket has this name",
        "AuthenticationFailed": "the signature or token was refused",
    ]

    /// The error for a refusing `response`: with the error code its body
    /// names, when it is an S3 or Azure error document.
    static func refusal(_ response: HTTPResponse, url: String) -> RemoteImageError {
        let text = String(decoding: response.body.prefix(16 << 10), as: UTF8.self)
        guard let start = text.firstRange(of: "<Code>"), let end = text[start.upperBound...].firstRange(of: "</Code>") else {
            return .httpStatus(url: url, status: response.status)
        }
        let code = text[start.upperBound..<end.lowerBound].filter { $0.isLetter || $0.isNumber }
        return code.isEmpty ? .httpStatus(url: url, status: response.status) : .serviceError(url: url, status: response.status, code: String(code))
    }
}
