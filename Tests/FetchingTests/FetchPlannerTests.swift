@testable import Fetching
import LayeredDisk
import Testing

/// The planner's rules, one at a time, with no I/O: chunks of 64 KiB on a
/// 64 MiB disk unless a test says otherwise.
@Suite("Fetch planner")
struct FetchPlannerTests {
    static let chunk: UInt64 = 64 << 10
    static let layout = ChunkLayout(chunkBytes: Int(chunk), diskBytes: 64 << 20)

    static func planner(connections: Int = 4, _ configure: (inout FetchPolicy) -> Void = { _ in }) -> FetchPlanner {
        var policy = FetchPolicy()
        configure(&policy)
        return FetchPlanner(layout: layout, policy: policy, connections: connections)
    }

    static func bytes(_ chunks: Range<Int>) -> Range<UInt64> {
        UInt64(chunks.lowerBound) * chunk..<UInt64(chunks.upperBound) * chunk
    }

    // MARK: Single-flight

    @Test func aReadJoinsTheRequestAlreadyFetchingItsChunks() {
        var planner = Self.planner()
        let first = planner.read(Self.bytes(0..<4), missing: [0..<4])
        #expect(first.created.map(\.chunks) == [0..<4])
        let second = planner.read(Self.bytes(2..<6), missing: [2..<6])
        #expect(second.created.map(\.chunks) == [4..<6])
        #expect(second.sources == [.fetch(id: first.created[0].id), .fetch(id: second.created[0].id)])
        #expect(planner.counters.joinedChunks == 2)
    }

    @Test func aFillJoinsAndNeverRequestsAChunkTwice() {
        var planner = Self.planner()
        let read = planner.read(Self.bytes(10..<12), missing: [10..<12])
        let fill = planner.fill([0..<20], purpose: .fill)
        #expect(fill.joined == [read.created[0].id])
        let requested = fill.created.flatMap { Array($0.chunks) }
        #expect(!requested.contains(10) && !requested.contains(11))
        #expect(Set(requested) == Set(0..<20).subtracting([10, 11]))
    }

    @Test func aStoredRequestLeavesItsChunksFreeToFetchAgain() {
        var planner = Self.planner()
        let first = planner.read(Self.bytes(0..<1), missing: [0..<1])
        _ = planner.arrived(first.created[0].id)
        _ = planner.finished(first.created[0].id, fetchedBytes: Self.chunk)
        #expect(planner.isIdle)
        let again = planner.read(Self.bytes(0..<1), missing: [0..<1])
        #expect(again.created.map(\.chunks) == [0..<1])
    }

    @Test func storedChunksAreReadFromTheStore() {
        var planner = Self.planner { $0.foregroundMergeGap = 0 }
        let plan = planner.read(Self.bytes(0..<8), missing: [2..<3, 7..<8])
        #expect(plan.created.map(\.chunks) == [2..<3, 7..<8])
        let expected: [FetchPlanner.Source] = [.stored(0..<2), .stored(3..<7)] + plan.created.map { .fetch(id: $0.id) }
        #expect(Set(plan.sources) == Set(expected) && plan.sources.count == expected.count)
        #expect(planner.counters.storedChunks == 6)
    }

    // MARK: Merging

    @Test func runsMergeAcrossSmallGapsAndSplitAtTheLimit() {
        var planner = Self.planner { $0.foregroundMergeGap = 2 * Self.chunk; $0.foregroundRequestLimit = 8 * Self.chunk }
        let merged = planner.read(Self.bytes(0..<8), missing: [0..<2, 4..<6])
        #expect(merged.created.map(\.chunks) == [0..<6])
        #expect(planner.counters.mergedRequests == 1)
        let apart = planner.read(Self.bytes(20..<30), missing: [20..<21, 24..<25])
        #expect(apart.created.map(\.chunks) == [20..<21, 24..<25])
        let long = planner.read(Self.bytes(40..<60), missing: [40..<60])
        #expect(long.created.map(\.chunks) == [40..<48, 48..<56, 56..<60])
    }

    @Test func runsNeverMergeAcrossAChunkInFlight() {
        var planner = Self.planner { $0.foregroundMergeGap = 4 * Self.chunk }
        _ = planner.read(Self.bytes(2..<3), missing: [2..<3])
        let around = planner.read(Self.bytes(0..<5), missing: [0..<2, 3..<5])
        #expect(around.created.map(\.chunks) == [0..<2, 3..<5])
    }

    @Test func backgroundWorkMergesWiderAndStartsInTheOrderOfItsRuns() {
        var planner = Self.planner(connections: 8) { $0.backgroundMergeGap = 4 * Self.chunk }
        let plan = planner.fill([30..<31, 0..<1, 3..<4], purpose: .fill)
        #expect(plan.created.map(\.chunks) == [30..<31, 0..<4])
    }

    // MARK: Priorities

    @Test func backgroundWorkLeavesAConnectionForReads() {
        var planner = Self.planner(connections: 2) { $0.backgroundRequestLimit = Self.chunk }
        let fill = planner.fill([0..<4], purpose: .fill)
        #expect(fill.created.count == 4)
        #expect(fill.started == [fill.created[0].id])
        let read = planner.read(Self.bytes(10..<11), missing: [10..<11])
        #expect(read.started == [read.created[0].id])
        // The read's connection goes back to background work only after reads.
        let next = planner.arrived(read.created[0].id)
        #expect(next.isEmpty)
        #expect(planner.arrived(fill.created[0].id) == [fill.created[1].id])
    }

    @Test func aLonePullUsesEveryConnection() {
        var planner = Self.planner(connections: 3) { $0.backgroundRequestLimit = Self.chunk; $0.connectionsReservedForReads = 0 }
        #expect(planner.fill([0..<5], purpose: .fill).started.count == 3)
    }

    @Test func readsQueueAheadOfBackgroundWork() {
        var planner = Self.planner(connections: 1) { $0.backgroundRequestLimit = Self.chunk }
        let fill = planner.fill([0..<3], purpose: .fill)
        let read = planner.read(Self.bytes(20..<21), missing: [20..<21])
        #expect(fill.started == [fill.created[0].id] && read.started.isEmpty)
        #expect(planner.arrived(fill.created[0].id) == [read.created[0].id])
    }

    @Test func aQueuedRequestAReadWaitsForIsPromoted() {
        var planner = Self.planner(connections: 1) { $0.backgroundRequestLimit = Self.chunk }
        let fill = planner.fill([0..<4], purpose: .fill)
        let read = planner.read(Self.bytes(3..<4), missing: [3..<4])
        #expect(read.created.isEmpty && read.sources == [.fetch(id: fill.created[3].id)])
        #expect(planner.arrived(fill.created[0].id) == [fill.created[3].id])
    }

    // MARK: Budgets

    @Test func backgroundBytesInFlightStayUnderTheBudget() {
        var planner = Self.planner(connections: 8) { $0.backgroundRequestLimit = Self.chunk; $0.bytesInFlightLimit = 2 * Self.chunk }
        let fill = planner.fill([0..<6], purpose: .fill)
        #expect(fill.started.count == 2)
        // Arriving (written to the store) leaves the budget; the commit need not finish.
        #expect(planner.arrived(fill.created[0].id) == [fill.created[2].id])
        #expect(planner.finished(fill.created[0].id, fetchedBytes: Self.chunk).isEmpty)
        // Reads are never held back by it.
        let read = planner.read(Self.bytes(40..<44), missing: [40..<44])
        #expect(read.started == read.created.map(\.id))
    }

    /// Bytes written and not yet committed hold background work back at the
    /// commit lag's limit, and only background work.
    @Test func theCommitLagHoldsBackgroundWorkOnly() {
        var planner = Self.planner(connections: 16) { $0.backgroundRequestLimit = Self.chunk; $0.commitLagLimit = 2 * Self.chunk }
        let fill = planner.fill([0..<4], purpose: .fill)
        #expect(fill.started == fill.created.map(\.id))
        _ = planner.arrived(fill.created[0].id)
        #expect(planner.fill([20..<21], purpose: .fill).started.count == 1, "one chunk awaits its commit: room for more")
        _ = planner.arrived(fill.created[1].id)
        let later = planner.fill([30..<31], purpose: .fill)
        #expect(later.started.isEmpty, "two chunks await their commit: the lag is full")
        let read = planner.read(Self.bytes(40..<41), missing: [40..<41])
        #expect(read.started == read.created.map(\.id), "a read is never held back")
        #expect(planner.finished(fill.created[0].id, fetchedBytes: Self.chunk) == later.created.map(\.id))
    }

    @Test func aRequestLargerThanTheBudgetStillStartsAlone() {
        var planner = Self.planner { $0.bytesInFlightLimit = Self.chunk }
        let fill = planner.fill([0..<8], purpose: .fill)
        #expect(fill.created.count == 1 && fill.started == [fill.created[0].id])
    }

    // MARK: Request size

    /// Background requests start at the smallest size and grow to what the
    /// link asks for once a large request told its rate; reads keep their
    /// own cap.
    @Test func backgroundRequestsTakeTheSizeTheLinkAsksFor() {
        var policy = FetchPolicy()
        policy.smallestBackgroundRequest = 1 << 20
        policy.backgroundRequestLimit = 64 << 20
        var planner = FetchPlanner(layout: Self.layout, policy: policy, connections: 8, latency: .milliseconds(30))
        #expect(planner.backgroundRequestBytes == 1 << 20)
        #expect(planner.fill([0..<64], purpose: .fill).created.map(\.chunks.count) == [16, 16, 16, 16])
        // 30 ms to the first byte, then 100 MB/s: 8 MiB in 30 + 84 ms.
        planner.measured(bytes: 8 << 20, duration: .microseconds(30_000 + 83_886))
        #expect(planner.backgroundRequestBytes / 1_000_000 == 27, "nine latencies' worth: 0.03 s x 100 MB/s x 9")
        #expect(planner.fill([64..<1024], purpose: .fill).created.first?.chunks.count == Int(planner.backgroundRequestBytes / Self.chunk))
        #expect(planner.read(Self.bytes(0..<1024), missing: []).created.isEmpty)
    }

    // MARK: Readahead

    @Test func sequentialReadsAreReadAheadAndRandomOnesAreNot() {
        var planner = Self.planner()
        #expect(planner.observe(0..<Self.chunk) == nil)
        let ahead = planner.observe(Self.chunk..<2 * Self.chunk)
        #expect(ahead == 2..<34, "a first window of 1 MiB, twice")
        #expect(planner.observe(50 * Self.chunk..<51 * Self.chunk) == nil)
    }

    /// A new stream's first window keeps the link busy: nine latencies of a
    /// connection's rate, as a background request, once the rate is known.
    @Test func aNewStreamsFirstWindowFollowsTheLink() {
        var planner = FetchPlanner(layout: Self.layout, policy: FetchPolicy(), connections: 8, latency: .milliseconds(30))
        #expect(planner.firstReadaheadWindow == FetchPolicy().initialReadahead, "the rate is not known yet")
        planner.measured(bytes: 8 << 20, duration: .microseconds(30_000 + 83_886))
        #expect(planner.firstReadaheadWindow == planner.backgroundRequestBytes)
        let window = planner.firstReadaheadWindow
        _ = planner.observe(0..<window / 8)
        let ahead = planner.observe(window / 8..<window / 4)
        #expect(ahead == Self.layout.chunks(overlapping: window / 4..<window / 4 + 2 * window), "two windows, once the stream has earned them")
    }

    /// A reader waits for readahead soon: a window is spread over the
    /// connections background work may use (here 8 of 9), where a fill of
    /// as many chunks takes requests of the link's size on fewer of them.
    @Test func readaheadIsSpreadOverTheConnections() {
        var policy = FetchPolicy()
        policy.smallestBackgroundRequest = 1 << 20
        let layout = ChunkLayout(chunkBytes: Int(Self.chunk), diskBytes: 256 << 20)
        var planner = FetchPlanner(layout: layout, policy: policy, connections: 9, latency: .milliseconds(30))
        planner.measured(bytes: 8 << 20, duration: .microseconds(30_000 + 83_886))
        let linkRequestChunks = Int(planner.backgroundRequestBytes / Self.chunk)
        #expect(linkRequestChunks > 400, "requests of 27 MB once the link is known")
        let readahead = planner.fill([0..<512], purpose: .readahead)
        #expect(readahead.created.map(\.chunks.count) == Array(repeating: 64, count: 8), "32 MiB in eight requests of 4 MiB")
        #expect(readahead.started.count == 8, "all of them at once")
        let fill = planner.fill([512..<1200], purpose: .fill)
        #expect(fill.created.map(\.chunks.count) == [linkRequestChunks, 688 - linkRequestChunks])
        let small = planner.fill([1200..<1216], purpose: .readahead)
        #expect(small.created.map(\.chunks.count) == [16], "never under the smallest background request")
    }

    /// Without a cache on disk, behind a first-byte latency, the bytes in
    /// flight carry most as one request on every connection: 32 MiB of
    /// readahead is sixteen requests of 2 MiB on 17 connections (one kept
    /// for reads), all started at once.
    @Test func aMemoryCachesInFlightPartIsOneRequestAConnection() {
        let layout = ChunkLayout(chunkBytes: 16 << 10, diskBytes: 1 << 30)
        var planner = FetchPlanner(layout: layout, policy: .memoryCache(inFlight: 32 << 20, readaheadLimit: 6 << 20), connections: 17, latency: .milliseconds(30))
        planner.measured(bytes: 8 << 20, duration: .microseconds(30_000 + 83_886))
        let readahead = planner.fill([0..<2048], purpose: .readahead)
        #expect(readahead.created.map(\.chunks.count) == Array(repeating: 128, count: 16))
        #expect(readahead.started.count == 16)
    }

    /// A memory cache whose windows are smaller than the default first
    /// window starts its streams within them (at 2 MiB in flight, windows
    /// of 512 KiB, the window's bounds crossed, and the first sequential
    /// read trapped).
    @Test func aSmallMemoryCacheStartsStreamsWithinItsLimit() {
        let policy = FetchPolicy.memoryCache(inFlight: 2 << 20, readaheadLimit: 512 << 10)
        let planner = FetchPlanner(
            layout: ChunkLayout(chunkBytes: 16 << 10, diskBytes: 1 << 30), policy: policy, connections: 16, latency: .milliseconds(30))
        #expect(planner.firstReadaheadWindow == 512 << 10)
    }

    /// A window and one read's worth, cut at the cap, would leave a sliver
    /// that costs a request of its own; it goes with the piece before it.
    /// A remainder of a quarter of the cap or more stays a request.
    @Test func aSliverRidesWithThePieceBeforeIt() {
        var planner = Self.planner(connections: 8) { $0.smallestBackgroundRequest = 1 << 20; $0.backgroundRequestLimit = 1 << 20 }
        #expect(planner.fill([0..<35], purpose: .fill).created.map(\.chunks) == [0..<16, 16..<35], "2 MiB + 192 KiB: two requests")
        #expect(planner.fill([100..<136], purpose: .fill).created.map(\.chunks) == [100..<116, 116..<132, 132..<136], "a quarter stays")
        #expect(planner.fill([200..<234, 300..<302], purpose: .fill).created.map(\.chunks) == [200..<216, 216..<234, 300..<302],
                "a small run of its own stays a request")
    }

    @Test func readaheadCutByItsBudgetIsAskedForAgainWithoutHoles() {
        var planner = Self.planner { $0.readaheadInFlightLimit = 1 << 20; $0.initialReadahead = 1 << 20 }
        _ = planner.observe(0..<Self.chunk)
        let first = planner.observe(Self.chunk..<2 * Self.chunk)!
        #expect(first == 2..<18, "1 MiB of the 2 MiB asked for")
        let plan = planner.fill([first], purpose: .readahead)
        #expect(planner.observe(2 * Self.chunk..<3 * Self.chunk) == nil, "no room while the first is in flight")
        for request in plan.created {
            _ = planner.finished(request.id, fetchedBytes: Self.chunk)
        }
        let next = planner.observe(3 * Self.chunk..<4 * Self.chunk)
        #expect(next?.lowerBound == 18, "it resumes where the cut one stopped")
    }

    // MARK: Counters

    @Test func requestsAndBytesAreCountedByPurposeWhenTheyEnd() {
        var planner = Self.planner()
        let read = planner.read(Self.bytes(0..<2), missing: [0..<2])
        let fill = planner.fill([10..<12], purpose: .fill)
        _ = planner.finished(read.created[0].id, fetchedBytes: 2 * Self.chunk)
        _ = planner.finished(fill.created[0].id, fetchedBytes: 0)
        #expect(planner.counters.requests == [.read: 1, .fill: 1])
        #expect(planner.counters.bytesFetched == [.read: 2 * Self.chunk, .fill: 0])
        #expect(planner.counters.misses == 1 && planner.counters.bytesMissed == 2 * Self.chunk)
    }
}
