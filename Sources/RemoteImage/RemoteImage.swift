import Fetching
import HTTPClient
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
    /// Whether the server answers range requests with the range; when it
    /// sends the whole object instead, the image is read by one streamed
    /// download (``download(into:)``), and ``read(_:for:)`` fails.
    public let servesRanges: Bool
    /// The object's first bytes, when the server does not serve ranges.
    public let leadingBytes: [UInt8]
    private let readAlongsideProbe: [Range<UInt64>: [UInt8]]

    private let client: CurlClient
    private let retryPolicy: RetryPolicy
    private let logger: Logger
    private let credentials: CredentialRefresher
    private let pinned: Mutex<Pinned>

    /// Where reads go: the URL after redirects, reached from the image's URL
    /// or, once credentials of a later generation carried one, from theirs.
    private struct Pinned {
        var target: RequestTarget
        var openedFrom: ImageURL
        var generation: Int
    }

    private init(url: ImageURL, probe: Probe, client: CurlClient, credentials: CredentialRefresher, retryPolicy: RetryPolicy, logger: Logger) {
        self.url = url
        identity = probe.identity
        httpVersion = probe.httpVersion
        probeDuration = probe.duration
        advertisesRanges = probe.advertisesRanges
        servesRanges = probe.servesRanges
        leadingBytes = probe.leadingBytes
        readAlongsideProbe = probe.readAlongside
        pinned = Mutex(Pinned(target: probe.target, openedFrom: url, generation: credentials.current.generation))
        self.client = client
        self.credentials = credentials
        self.retryPolicy = retryPolicy
        self.logger = logger
    }

    /// Opens the image at `url`, probing it with a HEAD and a one-byte range
    /// read sent together, with `credentials` on every request (refreshed
    /// when the server refuses them). The `edges` are read beside the probe
    /// and kept for ``bytesReadAtOpen(_:)``: what the caller reads first
    /// then costs no round trip of its own.
    public static func open(
        _ url: ImageURL,
        client: CurlClient,
        credentials: CredentialRefresher = .fixed(),
        retryPolicy: RetryPolicy = RetryPolicy(),
        logger: Logger = Logger(label: "lazydisk.http"),
        reading edges: EdgeReads = EdgeReads()
    ) async throws -> RemoteImage {
        let exchange = Exchange(client: client, retryPolicy: retryPolicy, logger: logger, credentials: credentials.current.credentials)
        let probe = try await exchange.probe(url, reading: edges)
        return RemoteImage(url: url, probe: probe, client: client, credentials: credentials, retryPolicy: retryPolicy, logger: logger)
    }

    /// The bytes `range` of the object, if they were read beside the open's
    /// probe (checked as every read is); nil otherwise.
    public func bytesReadAtOpen(_ range: Range<UInt64>) -> [UInt8]? {
        readAlongsideProbe[range]
    }

    /// Retries after a transient failure, as the retry policy allows.
    public var retries: Int { retryPolicy.retries }

    /// Requests the client runs at once at most.
    public var connections: Int { client.configuration.connections }

    /// What requests carry to prove themselves, without a secret: where AWS
    /// keys came from, the names of the headers.
    public var credentialSummary: String {
        let credentials = credentials.current.credentials
        var parts: [String] = []
        if let signing = credentials.awsSigning {
            parts.append("AWS SigV4 for \(signing.region), keys from \(signing.source)" + (signing.sessionToken == nil ? "" : " with a session token"))
        }
        if !credentials.headers.isEmpty {
            parts.append("headers " + credentials.headers.map(\.name).joined(separator: ", "))
        }
        if credentials.url != nil {
            parts.append("a URL from a command")
        }
        return parts.isEmpty ? "none" : parts.joined(separator: "; ")
    }

    /// The final URL after redirects, redacted, for display.
    public var pinnedURLDescription: String {
        ImageURL.redact(pinned.withLock(\.target.url))
    }

    /// Reads the bytes `range` of the object, which must lie within its size;
    /// `purpose` labels its requests in the metrics. A read the server
    /// refuses for its credentials is tried once more with fresh ones.
    /// Throws ``RemoteImageError`` (or `CancellationError`).
    public func read(_ range: Range<UInt64>, for purpose: FetchPurpose = .read) async throws -> [UInt8] {
        try await read(range, for: purpose, streamingTo: nil)
    }

    /// The same, with the body streamed to `sink` as it arrives.
    public func read(_ range: Range<UInt64>, for purpose: FetchPurpose, into sink: any FetchSink) async throws {
        _ = try await read(range, for: purpose, streamingTo: sink)
    }

    /// A transfer whose sink is full pauses: curl keeps the bytes, and the
    /// server's, past the socket's buffer, wait on the wire.
    public var holdsReadsForFullSinks: Bool { true }

    public func resumeHeldReads() {
        client.resumeHeldTransfers()
    }

    /// The whole object, streamed to `sink` from byte 0 by one GET: the
    /// way to read an image whose server does not serve ranges. Returns the
    /// bytes the sink got; a transfer that breaks throws, and the sink keeps
    /// what arrived before.
    public func download(into sink: any FetchSink) async throws -> UInt64 {
        let snapshot = credentials.current
        let exchange = Exchange(client: client, retryPolicy: retryPolicy, logger: logger, credentials: snapshot.credentials)
        let current = pinned.withLock { $0 }
        return try await exchange.download(from: current.target, identity: identity, image: current.openedFrom, into: sink)
    }

    private func read(_ range: Range<UInt64>, for purpose: FetchPurpose, streamingTo sink: (any FetchSink)?) async throws -> [UInt8] {
        precondition(!range.isEmpty && range.upperBound <= identity.size, "read \(range) outside 0..<\(identity.size)")
        let snapshot = credentials.current
        let started = ContinuousClock.now
        do {
            return try await read(range, for: purpose, into: sink, with: snapshot)
        } catch let rejection as RemoteImageError where rejection.rejectsCredentials && credentials.isRefreshable {
            logger.notice("the server refused the credentials; refreshing them", metadata: ["error": "\(rejection)"])
            let fresh: CredentialRefresher.Snapshot
            do {
                let left = max(.zero, retryPolicy.maximumTime - (ContinuousClock.now - started))
                fresh = try await credentials.refresh(after: snapshot.generation, within: left)
            } catch {
                throw RemoteImageError.refreshFailed(url: url.description, rejection: rejection.statusSummary, failure: "\(error)")
            }
            return try await read(range, for: purpose, into: sink, with: fresh)
        }
    }

    private func read(
        _ range: Range<UInt64>, for purpose: FetchPurpose, into sink: (any FetchSink)?, with snapshot: CredentialRefresher.Snapshot
    ) async throws -> [UInt8] {
        let exchange = Exchange(client: client, retryPolicy: retryPolicy, logger: logger, credentials: snapshot.credentials)
        let current = try await pinnedTarget(for: snapshot, exchange: exchange)
        do {
            return try await exchange.read(range, from: current.target, identity: identity, image: current.openedFrom, purpose: purpose, into: sink)
        } catch let error as RemoteImageError
            where [403, 404, 410].contains(error.refusalStatus) && current.target.url != current.openedFrom.absoluteString
        {
            logger.info("pinned URL expired; re-opening", metadata: ["url": "\(current.openedFrom)", "error": "\(error)"])
            let reopened = try await reopen(current.openedFrom, exchange: exchange, generation: snapshot.generation)
            return try await exchange.read(
                range, from: reopened.target, identity: identity, image: reopened.openedFrom, purpose: purpose, into: sink)
        }
    }

    /// The target for `snapshot`'s requests: the pinned one, unless newer
    /// credentials carry a URL of their own, which is opened first.
    private func pinnedTarget(for snapshot: CredentialRefresher.Snapshot, exchange: Exchange) async throws -> Pinned {
        let current = pinned.withLock { $0 }
        guard snapshot.generation > current.generation, let text = snapshot.credentials.url else { return current }
        return try await reopen(try ImageURL(text), exchange: exchange, generation: snapshot.generation)
    }

    /// Probes `url` again and pins where it leads, provided the object is
    /// still the one opened (same size and validators).
    private func reopen(_ url: ImageURL, exchange: Exchange, generation: Int) async throws -> Pinned {
        let probe = try await exchange.probe(url)
        guard probe.identity.matches(identity) else {
            throw RemoteImageError.imageChanged(url: url.description, reason: "re-opening found \(probe.identity.changes(from: identity))")
        }
        let reopened = Pinned(target: probe.target, openedFrom: url, generation: generation)
        pinned.withLock { pinned in
            if pinned.generation <= generation {
                pinned = reopened
            }
        }
        return reopened
    }
}
