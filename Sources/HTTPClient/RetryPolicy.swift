import CCurl

/// How often and how patiently transient failures (connection errors,
/// timeouts, 5xx, 429, bodies cut short) are retried.
public struct RetryPolicy: Sendable {
    /// Retries after the first attempt; 0 disables retrying.
    public var retries = 5
    /// The time one request and its retries may take: a retry starts only if
    /// it can fail within it (see ``giveUp(afterAttempt:elapsed:delay:attemptTime:)``),
    /// so an origin that accepts and never answers fails within this time.
    public var maximumTime: Duration = .seconds(60)
    /// The first backoff; each retry doubles it, up to ``maximumDelay``.
    public var initialDelay: Duration = .milliseconds(100)
    public var maximumDelay: Duration = .seconds(10)

    public init(retries: Int = 5, maximumTime: Duration = .seconds(60)) {
        self.retries = retries
        self.maximumTime = maximumTime
    }

    /// Why not to retry after attempt number `attempt` (1-based) failed
    /// transiently, or nil to retry: the retries are used up, or waiting
    /// `delay` and then an attempt that may take `attemptTime` before it
    /// fails (the stall timeout) would end past ``maximumTime``, counted
    /// from the first attempt's start (`elapsed` ago). A `Retry-After` is
    /// honoured only inside that time.
    public func giveUp(afterAttempt attempt: Int, elapsed: Duration, delay: Duration, attemptTime: Duration) -> RetryRefusal? {
        if attempt > retries {
            return .retriesUsed
        }
        if elapsed + delay + attemptTime > maximumTime {
            return .timeSpent(maximumTime)
        }
        return nil
    }

    /// The pause before retry number `retry` (1-based): the server's
    /// `Retry-After` when it sent one, else exponential backoff with "equal
    /// jitter" (half fixed, half random) so that many clients spread out.
    public func delay(beforeRetry retry: Int, retryAfter: Duration?) -> Duration {
        if let retryAfter {
            return retryAfter
        }
        let doublings = min(retry - 1, 30)
        let backoff = min(initialDelay * (1 << doublings), maximumDelay)
        return backoff / 2 + backoff / 2 * Double.random(in: 0...1)
    }

    /// Parses `Retry-After`: delta seconds, or an HTTP date.
    public static func retryAfter(_ header: String?, now: Double = Double(time(nil))) -> Duration? {
        guard let header = header.map({ String($0[...].trimmingHTTPWhitespace) }), !header.isEmpty else { return nil }
        if let seconds = Int(header) {
            return .seconds(max(0, seconds))
        }
        let date = curl_getdate(header, nil)
        guard date >= 0 else { return nil }
        return .seconds(max(0, Double(date) - now))
    }
}

/// Why a transient failure was not retried.
public enum RetryRefusal: Equatable, Sendable {
    case retriesUsed
    /// Another attempt could not fail within the policy's maximum time.
    case timeSpent(Duration)
}
