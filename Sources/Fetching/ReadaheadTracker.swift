/// Follows sequential readers and says what to fetch ahead of them.
///
/// A read that starts where an earlier one ended makes a stream sequential;
/// from then on the stream keeps between one and two windows fetched ahead
/// of its furthest read. Each time the reader uses up a window, the window
/// grows: to the link's window the caller gives (what keeps the link busy,
/// see ``FetchPlanner``), then doubling up to ``FetchPolicy/readaheadLimit``,
/// but never past ``FetchPolicy/readaheadGrowth`` times the bytes the stream
/// has read (and never under ``FetchPolicy/initialReadahead``). So a short run
/// (a file a guest reads while it boots) costs little more than itself, and a
/// long one (a copy) reaches the link's window after a few megabytes, as the
/// kernel's own readahead ramps up from the size of the first reads. A
/// read inside what a stream already fetched ahead carries that stream on
/// (a second reader of one region, or reads that overtake each other). A read
/// anywhere else starts a new stream with nothing read ahead, so random access
/// costs no extra bytes. A late read of what a stream already passed leaves
/// it alone (NBD clients keep many reads in flight, and they arrive out of
/// order). Readahead stops where another sequential stream started ahead of
/// it: those bytes are that stream's, already read or on their way (nbdcopy's
/// workers each read a segment of their own; the one ahead started at the
/// segment's end). A memory cache may have forgotten them, and fetching
/// them again would fill it with bytes nobody reads.
struct ReadaheadTracker: Sendable {
    private struct Stream {
        /// Where the stream's first read started.
        var start: UInt64
        /// The furthest byte read so far.
        var end: UInt64
        /// Bytes the stream's reads asked for: what its readahead is earned
        /// by (not the span, which reads that jump into the window stretch).
        var bytesRead: UInt64
        /// Readahead so far ends here; `end` when none was issued.
        var aheadEnd: UInt64
        /// Zero until the stream is found sequential.
        var window: UInt64 = 0
        var lastUse: Int

        /// Whether a read of `bytes` carries the stream on: it starts at the
        /// stream's end, or before what the stream fetched ahead ends, and
        /// goes further than the stream's end.
        func continues(with bytes: Range<UInt64>) -> Bool {
            bytes.upperBound > end && (bytes.lowerBound <= end || (window > 0 && bytes.lowerBound < aheadEnd))
        }
    }

    private let policy: FetchPolicy
    private let diskBytes: UInt64
    private var streams: [Stream] = []
    private var clock = 0

    init(policy: FetchPolicy, diskBytes: UInt64) {
        self.policy = policy
        self.diskBytes = diskBytes
    }

    /// Notes a read of `bytes`; returns the bytes to fetch ahead, if any.
    /// `firstWindow` is the window that keeps the link busy (within the
    /// policy's bounds): a stream grows to it as soon as it has read enough.
    mutating func noteRead(_ bytes: Range<UInt64>, firstWindow: UInt64? = nil) -> Range<UInt64>? {
        clock += 1
        if let index = streams.firstIndex(where: { $0.continues(with: bytes) }) {
            let linkWindow = min(max(firstWindow ?? policy.initialReadahead, policy.initialReadahead), policy.readaheadLimit)
            streams[index].bytesRead += UInt64(bytes.count)
            let limit = startOfStream(atOrAfter: bytes.upperBound, besides: index)
            return advance(&streams[index], to: bytes.upperBound, linkWindow: linkWindow, limit: limit)
        }
        if let index = streams.firstIndex(where: { $0.start <= bytes.lowerBound && bytes.upperBound <= $0.end }) {
            // A late read of a stream's past, as clients with many reads in
            // flight send them: the stream goes on, nothing else changes.
            streams[index].lastUse = clock
            return nil
        }
        startStream(at: bytes)
        return nil
    }

    /// Whether `bytes` lie in what a bulk reader has read: a sequential
    /// stream that read ``FetchPolicy/bulkStreamBytes`` or more.
    func isBulkRead(_ bytes: Range<UInt64>) -> Bool {
        streams.contains { stream in
            stream.window > 0 && stream.bytesRead >= policy.bulkStreamBytes
                && stream.start <= bytes.lowerBound && bytes.upperBound <= stream.end
        }
    }

    /// Where the first sequential stream other than `index` that started at
    /// or past `offset` starts; the disk's end when none did. A stream that
    /// reads on past such a start reads ahead past it too.
    private func startOfStream(atOrAfter offset: UInt64, besides index: Int) -> UInt64 {
        var limit = diskBytes
        for other in streams.indices where other != index && streams[other].window > 0 && streams[other].start >= offset {
            limit = min(limit, streams[other].start)
        }
        return limit
    }

    /// Moves `stream` on to `end`; returns what to fetch ahead of it, short
    /// of `limit`.
    private func advance(_ stream: inout Stream, to end: UInt64, linkWindow: UInt64, limit: UInt64) -> Range<UInt64>? {
        stream.lastUse = clock
        stream.end = end
        guard stream.aheadEnd < end + stream.window, end < diskBytes else { return nil }
        let earned = max(policy.initialReadahead, policy.readaheadGrowth * stream.bytesRead)
        let grown = min(max(stream.window * 2, linkWindow), policy.readaheadLimit)
        stream.window = min(grown, earned)
        let start = max(stream.aheadEnd, end)
        let ahead = start..<max(start, min(end + 2 * stream.window, limit))
        stream.aheadEnd = ahead.upperBound
        return ahead.isEmpty ? nil : ahead
    }

    /// Takes back the end of a readahead that could not be issued (too much
    /// is in flight already): the stream that asked for `ahead` will ask for
    /// the rest again on its next read, instead of leaving a hole its reads
    /// would fall into.
    mutating func withdraw(_ ahead: Range<UInt64>, issuedUpTo end: UInt64) {
        guard let index = streams.firstIndex(where: { $0.aheadEnd == ahead.upperBound }) else { return }
        streams[index].aheadEnd = max(end, ahead.lowerBound)
    }

    private mutating func startStream(at bytes: Range<UInt64>) {
        let stream = Stream(start: bytes.lowerBound, end: bytes.upperBound, bytesRead: UInt64(bytes.count), aheadEnd: bytes.upperBound, lastUse: clock)
        if streams.count < policy.streamLimit {
            streams.append(stream)
        } else if let oldest = streams.indices.min(by: { streams[$0].lastUse < streams[$1].lastUse }) {
            streams[oldest] = stream
        }
    }
}
