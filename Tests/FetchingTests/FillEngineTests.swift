import Fetching
import LayeredDisk
import Testing

/// The one fill engine behind pull, trace replay and background fill, on an
/// in-memory source and store.
@Suite("Fill engine")
struct FillEngineTests {
    static func engine(size: Int, connections: Int, rate: UInt64? = nil) -> (FillEngine, InMemorySource, InMemoryChunkStore) {
        let source = InMemorySource(size: size)
        let store = InMemoryChunkStore(layout: ChunkLayout(chunkBytes: 64 << 10, diskBytes: UInt64(size)))
        var policy = FetchPolicy()
        policy.connectionsReservedForReads = 0
        let scheduler = FetchScheduler(
            source: source, connections: connections, contentSize: UInt64(size), layout: store.chunkLayout, store: store, policy: policy)
        let engine = FillEngine(
            scheduler: scheduler, store: store, connections: connections, rateLimiter: rate.map { RateLimiter(bytesPerSecond: $0) })
        return (engine, source, store)
    }

    @Test func aFillFetchesWhatIsMissingOnceAndSaysSo() async throws {
        let (engine, source, store) = Self.engine(size: 8 << 20, connections: 4)
        _ = try await engine.scheduler.fill(0..<16)
        let progress = try await engine.fill(0..<(8 << 20))
        #expect(progress.bytesWanted == 8 << 20)
        #expect(progress.bytesAlreadyCached == 1 << 20)
        #expect(progress.bytesFetched == 7 << 20)
        #expect(store.storedCount == 128)
        #expect(source.requested.reduce(0) { $0 + $1.count } == 8 << 20)
    }

    /// The limiter gives each request its share of time before it goes out,
    /// so 1 MiB under 2 MiB/s cannot take less than half a second.
    @Test func aCappedFillTakesAtLeastItsSizeOverTheRate() async throws {
        let (engine, _, store) = Self.engine(size: 1 << 20, connections: 4, rate: 2 << 20)
        let clock = ContinuousClock()
        let started = clock.now
        _ = try await engine.fill(0..<(1 << 20))
        #expect(clock.now - started >= .milliseconds(500))
        #expect(store.storedCount == 16)
    }

    @Test func aTraceIsFetchedInItsOrder() async throws {
        let (engine, source, _) = Self.engine(size: 64 << 20, connections: 1)
        let chunk: UInt64 = 64 << 10
        let ranges = [40, 3, 900, 41].map { UInt64($0) * chunk..<UInt64($0 + 1) * chunk }
        // Batches of 4 MiB: these four chunks are one batch, whose requests
        // start in the order the trace wants them.
        let progress = try await engine.fill(inOrder: ranges)
        #expect(progress.requests == 3)
        #expect(source.requested.map { $0.lowerBound / chunk } == [40, 3, 900])
    }

    /// Replaying a trace over a warm cache fetches nothing, so even a rate
    /// of one byte a second makes it wait for nothing.
    @Test(.timeLimit(.minutes(5))) func chunksAlreadyCachedCostNothingUnderTheRate() async throws {
        let (engine, source, _) = Self.engine(size: 1 << 20, connections: 2)
        _ = try await engine.fill(0..<(1 << 20))
        var capped = engine
        capped.rateLimiter = RateLimiter(bytesPerSecond: 1)
        let requests = source.requested.count
        let replay = try await capped.fill(inOrder: [0..<(1 << 20)])
        #expect(replay.requests == 0)
        #expect(source.requested.count == requests)
    }
}
