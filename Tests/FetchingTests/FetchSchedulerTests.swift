import Fetching
import LayeredDisk
import Testing

/// The scheduler carrying out the planner's plans against an in-memory
/// source and store: exact bytes, nothing requested twice.
@Suite("Fetch scheduler on an in-memory source")
struct FetchSchedulerTests {
    static let size = 8 << 20

    static func scheduler(source: InMemorySource, store: InMemoryChunkStore?, connections: Int = 4) -> FetchScheduler {
        FetchScheduler(
            source: source, connections: connections, contentSize: UInt64(source.size),
            layout: store?.chunkLayout ?? ChunkLayout(chunkBytes: 4096, diskBytes: UInt64(size)), store: store)
    }

    static func read(_ bytes: Range<Int>, from scheduler: FetchScheduler) async throws -> [UInt8] {
        var buffer = SectorBuffer(sectors: UInt64(bytes.lowerBound / 512)..<UInt64(bytes.upperBound / 512), sectorSize: 512)
        try await scheduler.read(UInt64(bytes.lowerBound)..<UInt64(bytes.upperBound), into: &buffer)
        return buffer.bytes
    }

    @Test func concurrentOverlappingReadsGetTheirBytesAndNothingTwice() async throws {
        let source = InMemorySource(size: Self.size)
        let store = InMemoryChunkStore(layout: ChunkLayout(chunkBytes: 64 << 10, diskBytes: UInt64(Self.size)))
        let scheduler = Self.scheduler(source: source, store: store)
        var generator = SystemRandomNumberGenerator()
        let reads = (0..<64).map { _ in
            let start = Int.random(in: 0..<Self.size / 2 / 4096, using: &generator) * 4096
            return start..<start + Int.random(in: 1...128, using: &generator) * 4096
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for bytes in reads {
                group.addTask {
                    let read = try await Self.read(bytes, from: scheduler)
                    #expect(read == source.bytes(bytes), "bytes \(bytes)")
                }
            }
            try await group.waitForAll()
        }
        await scheduler.finishStoring()
        let ranges = source.requested.sorted { $0.lowerBound < $1.lowerBound }
        for (earlier, later) in zip(ranges, ranges.dropFirst()) {
            #expect(earlier.upperBound <= later.lowerBound, "\(earlier) and \(later) overlap")
        }
    }

    @Test func aFillStoresEveryChunkOnceAndReadsThenComeFromTheStore() async throws {
        let source = InMemorySource(size: Self.size)
        let store = InMemoryChunkStore(layout: ChunkLayout(chunkBytes: 64 << 10, diskBytes: UInt64(Self.size)))
        let scheduler = Self.scheduler(source: source, store: store)
        let outcome = try await scheduler.fill(0..<store.chunkLayout.chunkCount)
        #expect(outcome.bytesFetched == UInt64(Self.size))
        #expect(store.storedCount == store.chunkLayout.chunkCount)
        let requests = source.requested.count
        #expect(try await Self.read(4096..<(1 << 20), from: scheduler) == source.bytes(4096..<(1 << 20)))
        #expect(source.requested.count == requests)
        #expect(scheduler.counters.requests[.fill] == requests)
    }

    @Test func withoutAStoreOnlyConcurrentReadsShare() async throws {
        let source = InMemorySource(size: Self.size)
        let scheduler = Self.scheduler(source: source, store: nil)
        #expect(try await Self.read(0..<8192, from: scheduler) == source.bytes(0..<8192))
        #expect(try await Self.read(0..<8192, from: scheduler) == source.bytes(0..<8192))
        #expect(source.requested == [0..<8192, 0..<8192])
    }

    /// Once a request's bytes are written to the store, the scheduler lets go
    /// of them: a read that joins the request while its commit is still on
    /// its way reads the store, not memory.
    @Test(.timeLimit(.minutes(1))) func bytesWrittenToTheStoreLeaveMemory() async throws {
        let source = InMemorySource(size: Self.size)
        let store = InMemoryChunkStore(layout: ChunkLayout(chunkBytes: 64 << 10, diskBytes: UInt64(Self.size)), holdsCommits: true)
        let scheduler = Self.scheduler(source: source, store: store)
        let fill = Task { try await scheduler.fill(0..<1) }
        while store.waitingCommits == 0 {
            try await Task.sleep(for: .milliseconds(1))
        }
        #expect(store.readCount == 0)
        // The store holds the chunk's bytes but has not committed them: the
        // read still joins the request, and gets its bytes from the store.
        var buffer = SectorBuffer(sectors: 0..<8, sectorSize: 512)
        try await scheduler.read(0..<4096, into: &buffer)
        #expect(buffer.bytes == source.bytes(0..<4096))
        #expect(store.readCount == 1)
        #expect(source.requested.count == 1)
        store.releaseCommits()
        _ = try await fill.value
    }

    /// A read's fetch runs on the executor the read waits on (an NBD
    /// connection's event loop): no hop through the cooperative pool. A
    /// fill has no such waiter and runs on the pool.
    @Test func aReadsFetchRunsWhereTheReadWaits() async throws {
        let executor = ThreadTaskExecutor()
        let source = InMemorySource(size: Self.size) { executor.isCurrent }
        let store = InMemoryChunkStore(layout: ChunkLayout(chunkBytes: 64 << 10, diskBytes: UInt64(Self.size)))
        let scheduler = Self.scheduler(source: source, store: store)
        let read = Task(executorPreference: executor) {
            try await WaitingExecutor.$current.withValue(executor) {
                try await Self.read(0..<4096, from: scheduler)
            }
        }
        #expect(try await read.value == source.bytes(0..<4096))
        _ = try await WaitingExecutor.$current.withValue(executor) {
            try await scheduler.fill(8..<9)
        }
        #expect(source.requestPlaces == [true, false])
    }
}
