import CCurl
import Foundation

/// How often and how patiently transient failures (connection errors,
/// timeouts, 5xx, 429, bodies cut short) are retried.
public struct RetryPolicy: Sendable {
    /// Retries after the first attempt; 0 disables retrying.
    public var retries = 5
    /// The first backoff; each retry doubles it, up to ``maximumDelay``.
    public var initialDelay: Duration = .milliseconds(100)
    public var maximumDelay: Duration = .seconds(10)
    /// The longest `Retry-After` honoured; a server asking for more is
    /// waited on for this long.
    public var maximumRetryAfter: Duration = .seconds(120)

    public init(retries: Int = 5) {
        self.retries = retries
    }

    /// The pause before retry number `retry` (1-based): the server's
    /// `Retry-After` when it sent one, else exponential backoff with "equal
    /// jitter" (half fixed, half random) so that many clients spread out.
    func delay(beforeRetry retry: Int, retryAfter: Duration?) -> Duration {
        if let retryAfter {
            return min(retryAfter, maximumRetryAfter)
        }
        let doublings = min(retry - 1, 30)
        let backoff = min(initialDelay * (1 << doublings), maximumDelay)
        return backoff / 2 + backoff / 2 * Double.random(in: 0...1)
    }

    /// Parses `Retry-After`: delta seconds, or an HTTP date.
    static func retryAfter(_ header: String?, now: Double = Double(time(nil))) -> Duration? {
        guard let header = header.map({ String($0[...].trimmingHTTPWhitespace) }), !header.isEmpty else { return nil }
        if let seconds = Int(header) {
            return .seconds(max(0, seconds))
        }
        let date = curl_getdate(header, nil)
        guard date >= 0 else { return nil }
        return .seconds(max(0, Double(date) - now))
    }
}

