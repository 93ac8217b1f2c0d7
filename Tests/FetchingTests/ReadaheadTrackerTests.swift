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

    @Test func theFirstWindowIsTheOneGivenWithinThePolicysBounds() {
        var tracker = ReadaheadTracker(policy: FetchPolicy(), diskBytes: 1 << 40)
        _ = tracker.noteRead(0..<4096)
        #expect(tracker.noteRead(4096..<8192, firstWindow: 24 * mebibyte) == 8192..<8192 + 48 * mebibyte)
        _ = tracker.noteRead(mebibyte << 10..<(mebibyte << 10) + 4096)
        let huge = tracker.noteRead((mebibyte << 10) + 4096..<(mebibyte << 10) + 8192, firstWindow: 1 << 40)
        #expect(huge?.count == Int(2 * FetchPolicy().readaheadLimit))
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
}
