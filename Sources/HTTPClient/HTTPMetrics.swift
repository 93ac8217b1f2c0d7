import CoreMetrics
import Synchronization

/// What the HTTP layer counts through swift-metrics: every request it sends
/// (each retry and redirect hop is one), by purpose and status, with the
/// bytes of its body and the time it took. Without a metrics backend
/// bootstrapped this does nothing.
public enum HTTPMetrics {
    /// The purpose label of a request that opens the image (HEAD, byte 0).
    public static let probe = "probe"

    /// Records one request; `status` is nil when no answer came.
    public static func record(purpose: String, status: Int?, bodyBytes: Int, duration: Duration) {
        let metrics = self.metrics(for: Labels(purpose: purpose, status: status))
        metrics.requests.increment()
        metrics.receivedBytes.increment(by: Int64(bodyBytes))
        metrics.duration.recordNanoseconds(duration.components.seconds * 1_000_000_000 + duration.components.attoseconds / 1_000_000_000)
    }

    private struct Labels: Hashable {
        var purpose: String
        var status: Int?
    }

    /// The metrics of one purpose and status.
    private struct Metrics: Sendable {
        let requests: Counter
        let receivedBytes: Counter
        let duration: Timer

        init(_ labels: Labels) {
            let status = labels.status.map(String.init) ?? "none"
            requests = Counter(label: "lazydisk_http_requests_total", dimensions: [("purpose", labels.purpose), ("status", status)])
            receivedBytes = Counter(label: "lazydisk_http_received_bytes_total", dimensions: [("purpose", labels.purpose)])
            duration = Timer(label: "lazydisk_http_request_duration_seconds", dimensions: [("purpose", labels.purpose)])
        }
    }

    /// Made at first use, once a process has bootstrapped its backend (as
    /// `serve` does before it opens the image), and kept: making them for
    /// every request took the factory's lock three times and allocated
    /// each metric and its dimensions, on every cold read.
    private static let made = Mutex<[Labels: Metrics]>([:])

    private static func metrics(for labels: Labels) -> Metrics {
        made.withLock { made in
            if let metrics = made[labels] { return metrics }
            let metrics = Metrics(labels)
            made[labels] = metrics
            return metrics
        }
    }
}
