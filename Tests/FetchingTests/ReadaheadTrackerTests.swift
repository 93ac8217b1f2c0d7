@testable import Fetching
import Testing

@Suite("Readahead tracker")
struct ReadaheadTrackerTests {
    let mebibyte: UInt64 = 1 << 20

    @Test func sequentialReadsGrowTheWindowUpToTheLimit() {
        var tracker = ReadaheadTracker(policy: FetchPolicy(), diskBytes: 1 << 40)
        let read: UInt64 = 128 << 10
        var issued: [Range<UInt64>] = []
        for offset in stride(from: 0, to: 256 * mebibyte, by: Int(read)) {
            if let ahead = tracker.noteRead(offset..<offset + read) {
                issued.append(ahead)
            }
        }
        #expect(issued.first == 2 * read..<2 * read + 2 * mebibyte)
        // Each readahead starts where the last one ended: nothing twice, no holes.
        for (earlier, later) in zip(issued, issued.dropFirst()) {
            #expect(earlier.upperBound == later.lowerBound)
        }
        let largest = issued.map { $0.count }.max() ?? 0
        #expect(largest <= Int(2 * FetchPolicy().readaheadLimit))
        #expect(issued.last.map { $0.upperBound >= 256 * mebibyte + FetchPolicy().readaheadLimit } == true)
    }

    @Test func randomAndLateReadsFetchNothingAhead() {
        var tracker = ReadaheadTracker(policy: FetchPolicy(), diskBytes: 1 << 40)
        for offset: UInt64 in [7, 300, 42, 1000, 5, 777].map({ $0 * mebibyte }) {
            #expect(tracker.noteRead(offset..<offset + 4096) == nil)
        }
        #expect(tracker.noteRead(300 * mebibyte + 4096..<300 * mebibyte + 8192) != nil)
        #expect(tracker.noteRead(300 * mebibyte..<300 * mebibyte + 4096) == nil, "a late read of the past")
    }

    /// A stream's window grows to the link's, but only as far as what it
    /// has read earns: two 4 KiB reads get the smallest window, not the
    /// link's 24 MiB, and a stream that goes on reaches it.
    @Test func readaheadIsEarnedUpToTheLinksWindow() {
        var tracker = ReadaheadTracker(policy: FetchPolicy(), diskBytes: 1 << 40)
        let linkWindow = 24 * mebibyte
        _ = tracker.noteRead(0..<4096, firstWindow: linkWindow)
        #expect(tracker.noteRead(4096..<8192, firstWindow: linkWindow) == 8192..<8192 + 2 * mebibyte)
        var leads: [UInt64] = []
        var offset: UInt64 = 8192
        while offset < 64 * mebibyte {
            let end = offset + 256 << 10
            if let ahead = tracker.noteRead(offset..<end, firstWindow: linkWindow) {
                leads.append(ahead.upperBound - end)
                #expect(ahead.upperBound - end <= 2 * FetchPolicy().readaheadGrowth * end, "never more than earned")
            }
            offset = end
        }
        #expect(leads.contains(2 * linkWindow), "a long stream reaches the link's window: \(leads)")
        _ = tracker.noteRead(mebibyte << 10..<(mebibyte << 10) + 32 * mebibyte)
        let huge = tracker.noteRead((mebibyte << 10) + 32 * mebibyte..<(mebibyte << 10) + 64 * mebibyte, firstWindow: 1 << 40)
        #expect(huge?.count == Int(2 * FetchPolicy().readaheadLimit), "within the policy's limit")
    }

    /// Many short sequential runs, as a guest's boot reads its files, fetch
    /// a bounded multiple of what they read, however fast the link.
    @Test func shortRunsCostLittleMoreThanThemselves() {
        var tracker = ReadaheadTracker(policy: FetchPolicy(), diskBytes: 1 << 40)
        var read: UInt64 = 0
        var ahead: UInt64 = 0
        for file: UInt64 in 0..<100 {
            let start = file * 97 * mebibyte
            for piece: UInt64 in 0..<4 {
                let bytes = start + piece * (128 << 10)..<start + (piece + 1) * (128 << 10)
                read += UInt64(bytes.count)
                ahead += UInt64(tracker.noteRead(bytes, firstWindow: 64 * mebibyte)?.count ?? 0)
            }
        }
        #expect(ahead <= 8 * read, "read \(read), fetched ahead \(ahead)")
    }

    /// Reads that jump ahead into a stream's window carry it on, but earn
    /// only the bytes they read, not the span they jumped: a guest reading
    /// a few blocks spread over a region does not make readahead grow.
    @Test func readsThatJumpIntoTheWindowEarnOnlyWhatTheyRead() {
        var tracker = ReadaheadTracker(policy: FetchPolicy(), diskBytes: 1 << 40)
        _ = tracker.noteRead(0..<4096, firstWindow: 64 * mebibyte)
        var aheadEnd = tracker.noteRead(4096..<8192, firstWindow: 64 * mebibyte)?.upperBound ?? 0
        for _ in 0..<20 {
            let ahead = tracker.noteRead(aheadEnd - 4096..<aheadEnd, firstWindow: 64 * mebibyte)
            #expect(ahead.map { UInt64($0.count) <= 2 * FetchPolicy().initialReadahead } ?? true, "\(String(describing: ahead))")
            aheadEnd = ahead?.upperBound ?? aheadEnd
        }
    }

    /// A read that lands inside what a stream fetched ahead (another reader
    /// of the region, or a read that overtook the ones before it) carries
    /// the stream on instead of starting one that reads nothing ahead.
    @Test func aReadInsideAStreamsWindowJoinsIt() {
        var tracker = ReadaheadTracker(policy: FetchPolicy(), diskBytes: 1 << 40)
        _ = tracker.noteRead(0..<mebibyte)
        #expect(tracker.noteRead(mebibyte..<2 * mebibyte) == 2 * mebibyte..<4 * mebibyte)
        let ahead = tracker.noteRead(3 * mebibyte..<4 * mebibyte)
        #expect(ahead == 4 * mebibyte..<8 * mebibyte, "the stream moved to the read and its window doubled")
    }

    @Test func readaheadStopsAtTheEndOfTheDisk() {
        var tracker = ReadaheadTracker(policy: FetchPolicy(), diskBytes: 3 * mebibyte)
        _ = tracker.noteRead(0..<mebibyte)
        #expect(tracker.noteRead(mebibyte..<2 * mebibyte) == 2 * mebibyte..<3 * mebibyte)
        #expect(tracker.noteRead(2 * mebibyte..<3 * mebibyte) == nil)
    }

    /// nbdcopy's workers: each reads a segment of its own, so the one that
    /// reaches its segment's end finds the next worker's stream started
    /// there. Its readahead stops at that start until it reads past it; a
    /// random read there (no stream of its own) does not stop it.
    @Test func readaheadStopsWhereAnotherStreamStarted() {
        var tracker = ReadaheadTracker(policy: FetchPolicy(), diskBytes: 1 << 40)
        let segment = 128 * mebibyte
        let read: UInt64 = 256 << 10
        _ = tracker.noteRead(2 * segment..<2 * segment + read)
        #expect(tracker.noteRead(2 * segment + read..<2 * segment + 2 * read) != nil, "the next segment's stream is sequential")
        var furthest: UInt64 = 0
        for offset in stride(from: segment, to: 2 * segment, by: Int(read)) {
            furthest = max(furthest, tracker.noteRead(offset..<offset + read)?.upperBound ?? 0)
        }
        #expect(furthest == segment * 2, "stopped at the start of the stream ahead, not \(furthest)")
        #expect(tracker.noteRead(2 * segment..<2 * segment + read) != nil, "reading on past that start reads ahead again")

        var another = ReadaheadTracker(policy: FetchPolicy(), diskBytes: 1 << 40)
        _ = another.noteRead(segment..<segment + 4096)
        var beyond: UInt64 = 0
        for offset in stride(from: segment - 16 * mebibyte, to: segment, by: Int(read)) {
            beyond = max(beyond, another.noteRead(offset..<offset + read)?.upperBound ?? 0)
        }
        #expect(beyond > segment, "a random read is no stream to stop at")
    }

    /// A stream is a bulk reader once it has read the policy's bulk line:
    /// its reads, late ones too, are bulk from then on, those before are
    /// not, and neither is a read elsewhere or a short run (a guest's file).
    @Test func aStreamIsBulkOnceItHasReadTheBulkLine() {
        var tracker = ReadaheadTracker(policy: FetchPolicy(), diskBytes: 1 << 40)
        let read: UInt64 = 256 << 10
        let line = FetchPolicy().bulkStreamBytes
        var firstBulk: UInt64?
        for offset in stride(from: 0, to: 2 * line, by: Int(read)) {
            _ = tracker.noteRead(offset..<offset + read)
            if firstBulk == nil, tracker.isBulkRead(offset..<offset + read) {
                firstBulk = offset
            }
        }
        #expect(firstBulk == line - read, "the read that reaches the line is the first bulk one")
        #expect(tracker.isBulkRead(read..<2 * read), "what the stream read earlier lies in a bulk reader's past")
        #expect(!tracker.isBulkRead(2 * line..<2 * line + read), "not read yet")

        for offset in stride(from: 100 * mebibyte, to: 100 * mebibyte + line / 2, by: Int(read)) {
            _ = tracker.noteRead(offset..<offset + read)
            #expect(!tracker.isBulkRead(offset..<offset + read), "a short run is a guest's file")
        }
        _ = tracker.noteRead(500 * mebibyte..<500 * mebibyte + 4096)
        #expect(!tracker.isBulkRead(500 * mebibyte..<500 * mebibyte + 4096), "a random read")
    }
}
