import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// An HTTP server on loopback that serves one image and misbehaves on
/// purpose, for the faults nginx will not produce. It logs every request so a
/// test can count what the client sent.
public final class FaultServer: Sendable {
    /// How the server misbehaves. Faults with `times` hit that many range
    /// GETs, then the server behaves; the open probe (`bytes=0-0`) is spared
    /// so that the faults land on reads.
    public enum Fault: Sendable, Hashable {
        case none
        /// Answers every GET with 200 and the whole object.
        case ignoresRange
        /// The same, and the first `times` GETs of the whole object (those
        /// without a Range) are cut halfway by closing the connection.
        case ignoresRangeCuttingDownloads(times: Int)
        /// Answers 206 with a Content-Range one byte off what was asked.
        case wrongContentRange
        /// Answers 206 with the asked Content-Range but only half the body
        /// (Content-Length matches what is sent).
        case shortBody(times: Int)
        /// Promises the whole body, sends half, and closes the connection.
        case disconnectMidBody(times: Int)
        /// Answers 500.
        case serverError(times: Int)
        /// Answers 429 with `Retry-After: seconds`.
        case tooManyRequests(times: Int, retryAfterSeconds: Int)
        /// Sends bodies one byte every 100 ms.
        case trickle
        /// Answers every range GET after `milliseconds`, as an object store's
        /// first byte comes tens of milliseconds after the request.
        case firstByteDelay(milliseconds: Int)
        /// Answers HEAD with 403, as presigned S3 URLs do.
        case refusesHead
        /// `/image` redirects through `hops` paths to `/final`, which serves.
        case redirectChain(hops: Int)
        /// `/image` redirects to `/signed?v=N`, a new N each time; only the
        /// newest link works once ``expireLinks()`` has been called.
        case expiringLinks
        /// `/image` redirects to this absolute URL (another server).
        case redirectTo(String)
        /// Range answers (and HEAD) carry `Content-Encoding: coding`.
        case contentEncoding(String)
        /// `/image?id=N` serves a different object for each N (the content
        /// with every byte XOR N), validated as `validators` say, as a
        /// `download?id=` endpoint does.
        case objectsByQuery(Validators)
        /// HEAD and the probe report the object as `size` bytes.
        case reportsSize(UInt64)
        /// HEAD answers with this ETag, GETs with the object's: as if the
        /// object changed between a HEAD and the GET sent beside it.
        case headETag(String)
        /// Takes every request and never answers.
        case neverAnswers
        /// Holds the answers to range GETs (the open probe aside) until
        /// ``releaseHeld()``, so a test sees which requests a client makes
        /// while the ones before are still open.
        case heldUntilReleased
        /// Holds the answer to the open probe (`bytes=0-0`) until
        /// ``releaseHeld()``, so a test sees what a client sends beside it.
        case probeHeldUntilReleased
        /// Holds the answers to HEAD requests until ``releaseHeld()``, so a
        /// test sees what a client sends before HEAD has answered.
        case headHeldUntilReleased
    }

    /// What the server sends to tell one object from another.
    public enum Validators: Sendable, Hashable, CaseIterable {
        case strongETag
        case weakETag
        case lastModifiedOnly
        case none
    }

    /// One request as the server saw it.
    public struct LoggedRequest: Sendable, Hashable, CustomStringConvertible {
        public var method: String
        /// Path and query.
        public var uri: String
        public var range: String?
        public var ifMatch: String?
        public var authorization: String?
        /// Every request header, names lowercased.
        public var headers: [String: String]
        public var status: Int

        public var description: String { "\(method) \(uri) \(range ?? "-") -> \(status)" }
    }

    let state: FaultState
    private let channel: any Channel

    private init(state: FaultState, channel: any Channel) {
        self.state = state
        self.channel = channel
    }

    /// Starts serving `content` on a free loopback port.
    public static func start(content: [UInt8], fault: Fault = .none) async throws -> FaultServer {
        let state = FaultState(content: content, fault: fault)
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(FaultHandler(state: state))
                }
            }
            .bind(host: "127.0.0.1", port: 0)
            .get()
        return FaultServer(state: state, channel: channel)
    }

    /// The image's URL (`/image`, with a query to exercise redaction).
    public var url: String { base + "/image?signature=SECRET-TOKEN" }

    /// `http://127.0.0.1:PORT`.
    public var base: String { "http://127.0.0.1:\(channel.localAddress!.port!)" }

    /// Every request so far, in arrival order.
    public var requests: [LoggedRequest] { state.log }

    /// Replaces the object: new bytes, a new ETag and Last-Modified.
    public func replaceContent(_ content: [UInt8]) {
        state.replace(content)
    }

    /// Sends every held answer and holds no more.
    public func releaseHeld() {
        state.releaseHeld()
    }

    /// Makes every `/signed` link issued so far answer 403.
    public func expireLinks() {
        state.expireLinks()
    }

    public func shutdown() async throws {
        try await channel.close()
    }
}
