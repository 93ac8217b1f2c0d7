import Fetching
import ImageModel
import Logging
import Synchronization

/// An object at an HTTP(S) URL, read by byte ranges.
///
/// Opening finds the size and validators (HEAD, or a one-byte range GET where
/// HEAD is refused, as presigned S3 URLs do), follows redirects once and pins
/// the final URL. Every read is then a single-range GET on the pinned URL with
/// a precondition, and only an exact 206 is accepted, so data from a changed
/// object is never mixed in. An expired pinned URL (403/404) is re-opened from
/// the original one, provided the object is unchanged.
public final class RemoteImage: RangeSource {
    /// The URL the image was opened with.
    public let url: ImageURL
    /// Size and validators at open time; every read must match them.
    public let identity: RemoteIdentity
    /// The HTTP version of the probe exchange ("1.1", "2").
    public let httpVersion: String
    /// How long the one-byte probe read took, a rough first-byte latency.
    public let probeDuration: Duration
    /// Whether the server advertised `Accept-Ranges: bytes`.
    public let advertisesRanges: Bool

    private let client: CurlClient
    private let retryPolicy: RetryPolicy
    private let logger: Logger
    private let pinned: Mutex<RequestTarget>

    private init(url: ImageURL, probe: Probe, client: CurlClient, retryPolicy: RetryPolicy, logger: Logger) {
        self.url = url
        identity = probe.identity
        httpVersion = probe.httpVersion
        probeDuration = probe.duration
        advertisesRanges = probe.advertisesRanges
        pinned = Mutex(probe.target)
        self.client = client
        self.retryPolicy = retryPolicy
        self.logger = logger
    }

    /// Opens the image at `url`, probing it with a one-byte range read.
    public static func open(
        _ url: ImageURL,
        client: CurlClient,
        retryPolicy: RetryPolicy = RetryPolicy(),
        logger: Logger = Logger(label: "lazydisk.http")
    ) async throws -> RemoteImage {
        let exchange = Exchange(client: client, retryPolicy: retryPolicy, logger: logger)
        let probe = try await exchange.probe(url)
        return RemoteImage(url: url, probe: probe, client: client, retryPolicy: retryPolicy, logger: logger)
    }

    /// Requests the client runs at once at most.
    public var connections: Int { client.configuration.connections }

    /// The final URL after redirects, redacted, for display.
    public var pinnedURLDescription: String {
        ImageURL.redact(pinned.withLock(\.url))
    }

    /// Reads the bytes `range` of the object, which must lie within its size;
    /// `purpose` labels its requests in the metrics. Throws
    /// ``RemoteImageError`` (or `CancellationError`).
    public func read(_ range: Range<UInt64>, for purpose: FetchPurpose = .read) async throws -> [UInt8] {
        precondition(!range.isEmpty && range.upperBound <= identity.size, "read \(range) outside 0..<\(identity.size)")
        let exchange = Exchange(client: client, retryPolicy: retryPolicy, logger: logger)
        do {
            return try await exchange.read(range, from: pinned.withLock { $0 }, identity: identity, image: url, purpose: purpose)
        } catch let RemoteImageError.httpStatus(_, status) where [403, 404, 410].contains(status) && isPinnedElsewhere {
            logger.info("pinned URL expired; re-opening", metadata: ["url": "\(url)", "status": "\(status)"])
            let probe = try await exchange.probe(url)
            guard probe.identity.matches(identity) else {
                throw RemoteImageError.imageChanged(url: url.description, reason: "re-opening found \(probe.identity.changes(from: identity))")
            }
            pinned.withLock { $0 = probe.target }
            return try await exchange.read(range, from: probe.target, identity: identity, image: url, purpose: purpose)
        }
    }

    private var isPinnedElsewhere: Bool {
        pinned.withLock(\.url) != url.absoluteString
    }
}
