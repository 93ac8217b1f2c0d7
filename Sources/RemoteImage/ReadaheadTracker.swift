/// Follows sequential readers and says what to fetch ahead of them.
///
/// A read that starts where an earlier one ended (within a chunk) makes a
/// stream sequential; from then on the stream keeps between one and two
/// windows fetched ahead of its furthest read, and the window doubles from
/// ``FetchPolicy/initialReadahead`` to ``FetchPolicy/readaheadLimit`` each time
/// the reader uses up a window. A read anywhere else starts a new stream with
/// nothing read ahead, so random access costs no extra bytes. Reads may
/// arrive out of order within a stream (NBD clients keep many in flight).
struct ReadaheadTracker: Sendable {
    private struct Stream {
        /// Where the stream's first read started.
        var start: UInt64
        /// The furthest byte read so far.
        var end: UInt64
        /// Readahead so far ends here; `end` when none was issued.
        var aheadEnd: UInt64
        /// Zero until the stream is found sequential.
        var window: UInt64 = 0
        var lastUse: Int
    }

    private let policy: FetchPolicy
    /// Reads within this distance past a stream's end still continue it.
    private let slack: UInt64
    private let diskBytes: UInt64
    private var streams: [Stream] = []
    private var clock = 0

    init(policy: FetchPolicy, slack: UInt64, diskBytes: UInt64) {
        self.policy = policy
        self.slack = slack
        self.diskBytes = diskBytes
    }

    /// Notes a read of `bytes`; returns the bytes to fetch ahead, if any.
    mutating func noteRead(_ bytes: Range<UInt64>) -> Range<UInt64>? {
        clock += 1
        guard let index = streams.firstIndex(where: { bytes.lowerBound >= $0.start && bytes.lowerBound <= max($0.end, $0.aheadEnd) + slack }) else {
            startStream(at: bytes)
            return nil
        }
        var stream = streams[index]
        defer { streams[index] = stream }
        stream.lastUse = clock
        stream.end = max(stream.end, bytes.upperBound)
        guard stream.aheadEnd < stream.end + stream.window, stream.end < diskBytes else { return nil }
        stream.window = stream.window == 0 ? policy.initialReadahead : min(stream.window * 2, policy.readaheadLimit)
        let ahead = max(stream.aheadEnd, stream.end)..<min(stream.end + 2 * stream.window, diskBytes)
        stream.aheadEnd = ahead.upperBound
        return ahead.isEmpty ? nil : ahead
    }

    private mutating func startStream(at bytes: Range<UInt64>) {
        let stream = Stream(start: bytes.lowerBound, end: bytes.upperBound, aheadEnd: bytes.upperBound, lastUse: clock)
        if streams.count < policy.streamLimit {
            streams.append(stream)
        } else if let oldest = streams.indices.min(by: { streams[$0].lastUse < streams[$1].lastUse }) {
            streams[oldest] = stream
        }
    }
}
