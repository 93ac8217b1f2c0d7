/// What the link to the origin gives, learned from the requests that
/// finish: its first-byte latency and what one connection carries a second.
///
/// From the two follows the size of a background request: large enough that
/// the latency is a small share of its time (a 30 ms object store at 100 MB/s
/// a connection wants requests of tens of MiB; a server on loopback, a few),
/// so connections spend their time moving bytes. Memory does not limit the
/// size: a request streams into the store as it arrives.
public struct LinkEstimate: Sendable, Hashable {
    /// Seconds from asking to the first byte, roughly: the open's one-byte
    /// probe at first, then what small requests take.
    public private(set) var latency: Double
    /// Bytes a second one connection carries once a request's bytes flow;
    /// nil until a large request finished.
    public private(set) var connectionRate: Double?

    /// Requests at most this large tell the latency (their bytes take no
    /// time to speak of); at least ``rateSampleBytes`` tell the rate.
    static let latencySampleBytes: UInt64 = 64 << 10
    static let rateSampleBytes: UInt64 = 1 << 20
    /// The share of a request's time its latency may take: a request of
    /// (1 - share) / share latencies' worth of bytes.
    static let latencyShare = 0.1
    /// How much a new sample moves the estimate.
    private static let weight = 0.25

    public init(latency: Duration) {
        self.latency = Self.seconds(latency)
    }

    /// Notes a request of `bytes` that took `duration` from start to its
    /// last byte.
    public mutating func record(bytes: UInt64, duration: Duration) {
        let seconds = Self.seconds(duration)
        if bytes <= Self.latencySampleBytes {
            latency += Self.weight * (seconds - latency)
        } else if bytes >= Self.rateSampleBytes {
            // A request faster than the latency estimate says the latency is
            // lower; its rate is not to be trusted.
            guard seconds > latency else {
                latency = seconds
                return
            }
            let rate = Double(bytes) / (seconds - latency)
            connectionRate = connectionRate.map { $0 + Self.weight * (rate - $0) } ?? rate
        }
    }

    /// The bytes a background request should ask for, within `bounds`:
    /// enough that its latency is ``latencyShare`` of its time, or the lower
    /// bound while the rate is unknown (the first requests then finish soon
    /// and tell it).
    public func requestBytes(within bounds: ClosedRange<UInt64>) -> UInt64 {
        guard let connectionRate else { return bounds.lowerBound }
        let wanted = latency * connectionRate * (1 - Self.latencyShare) / Self.latencyShare
        guard wanted.isFinite, wanted < Double(bounds.upperBound) else { return bounds.upperBound }
        return max(bounds.lowerBound, UInt64(wanted))
    }

    /// What fetching `bytes` on one connection takes by the estimate, at
    /// ``assumedConnectionRate`` until a rate is measured.
    public func timeToFetch(_ bytes: UInt64) -> Duration {
        .seconds(latency + Double(bytes) / (connectionRate ?? Self.assumedConnectionRate))
    }

    /// A slow object store's connection (bytes a second), for what a fetch
    /// would take before the first large request has told the real rate.
    static let assumedConnectionRate = Double(8 << 20)

    private static func seconds(_ duration: Duration) -> Double {
        let (seconds, attoseconds) = duration.components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}
