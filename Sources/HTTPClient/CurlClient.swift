import CCurl
import Synchronization

/// An async HTTP client on one libcurl multi handle.
///
/// All transfers share the multi handle's connection pool (keep-alive reuse,
/// HTTP/2 multiplexing over TLS), and a single thread drives them with
/// `curl_multi_poll`, so there is neither a thread per request nor polling.
public final class CurlClient: Sendable {
    /// What the client was made with: its connection limit, headers, TLS.
    public let configuration: HTTPClientConfiguration
    private let loop: CurlEventLoop
    private let nextID = Atomic<Int>(0)

    public init(configuration: HTTPClientConfiguration = HTTPClientConfiguration()) {
        self.configuration = configuration
        loop = CurlEventLoop(configuration: configuration)
    }

    deinit {
        loop.stop()
    }

    /// Offers the bytes of every transfer whose streamed body's sink threw
    /// `FetchSinkIsFull` to the sink again; until then curl holds them and
    /// the transfer waits, paused. Safe from any thread.
    public func resumeHeldTransfers() {
        loop.resumeHeld()
    }

    /// Sends one request and returns the final response, whatever its status.
    /// Throws ``CurlError`` when no response arrived, `CancellationError` when
    /// the task was cancelled.
    public func send(_ request: HTTPRequest) async throws -> HTTPResponse {
        let id = nextID.add(1, ordering: .relaxed).newValue
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                if Task.isCancelled {
                    continuation.resume(throwing: CancellationError())
                } else {
                    loop.submit(CurlEventLoop.Submission(id: id, request: request, continuation: continuation))
                }
            }
        } onCancel: {
            loop.cancel(id)
        }
    }
}
