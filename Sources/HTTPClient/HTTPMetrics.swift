import CoreMetrics

/// What the HTTP layer counts through swift-metrics: every request it sends
/// (each retry and redirect hop is one), by purpose and status, with the
/// bytes of its body and the time it took. Without a metrics backend
/// bootstrapped this does nothing.
public enum HTTPMetrics {
    /// The purpose label of a request that opens the image (HEAD, byte 0).
    public static let probe = "probe"

    /// Records one request; `status` is nil when no answer came.
    public static func record(purpose: String, status: Int?, bodyBytes: Int, duration: Duration) {
        let status = status.map(String.init) ?? "none"
        Counter(label: "lazydisk_http_requests_total", dimensions: [("purpose", purpose), ("status", status)]).increment()
        Counter(label: "lazydisk_http_received_bytes_total", dimensions: [("purpose", purpose)]).increment(by: Int64(bodyBytes))
        Timer(label: "lazydisk_http_request_duration_seconds", dimensions: [("purpose", purpose)]).recordNanoseconds(
            duration.components.seconds * 1_000_000_000 + duration.components.attoseconds / 1_000_000_000)
    }
}
