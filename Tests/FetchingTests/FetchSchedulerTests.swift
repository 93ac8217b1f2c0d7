import Fetching
import LayeredDisk
import Testing
import Synchronization

/// The scheduler carrying out the planner's plans against an in-memory
/// source and store: exact bytes, nothing requested twice.
@Suite("Fetch scheduler on an in-memory source")
struct FetchSchedulerTests {
    static let size = 8 << 20

    static func scheduler(source: InMemorySource, store: InMemoryChunkStore, connections: Int = 4) -> FetchScheduler {
        FetchScheduler(
            source: source, connections: connections, contentSize: UInt64(source.size), layout: store.chunkLayout, store: store)
    }

    /// A read as the stack makes it: the scheduler brings the bytes, then
    /// they are read from the store.
    static func read(_ bytes: Range<Int>, from scheduler: FetchScheduler, store: InMemoryChunkStore) async throws -> [UInt8] {
        let range = UInt64(bytes.lowerBound)..<UInt64(bytes.upperBound)
        try await scheduler.bring(range)
        var read = [UInt8](repeating: 0, count: bytes.count)
        try read.withUnsafeMutableBytes { try store.readHeld(range, into: $0) }
        return read
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
                    let read = try await Self.read(bytes, from: scheduler, store: store)
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
        #expect(try await Self.read(4096..<(1 << 20), from: scheduler, store: store) == source.bytes(4096..<(1 << 20)))
        #expect(source.requested.count == requests)
        #expect(scheduler.counters.requests[.fill] == requests)
    }

    /// curl hands a body over in 16 KiB pieces, the first short by the
    /// response's headers: a store that asks for 16 KiB runs gets every
    /// byte in runs on 16 KiB boundaries instead (requests are whole chunks,
    /// so every run is whole too), and the bytes are the source's.
    @Test func fetchedBytesReachTheStoreInItsWriteUnit() async throws {
        let source = InMemorySource(size: Self.size, pieces: [16078, 16384])
        let store = InMemoryChunkStore(
            layout: ChunkLayout(chunkBytes: 64 << 10, diskBytes: UInt64(Self.size)), fetchedWriteUnit: 16 << 10)
        let scheduler = Self.scheduler(source: source, store: store)
        _ = try await scheduler.fill(0..<store.chunkLayout.chunkCount)
        #expect(try await Self.read(0..<Self.size, from: scheduler, store: store) == source.bytes(0..<Self.size))
        let writes = store.writes
        #expect(writes.count == Self.size / (16 << 10))
        let offRuns = writes.filter { $0.lowerBound % (16 << 10) != 0 || $0.count != 16 << 10 }
        #expect(offRuns.count == 0, "first off the runs: \(offRuns.prefix(3))")
    }

    /// A request's bytes are read as soon as they are written, before the
    /// commit that makes them durable: the read waits for the download, not
    /// for the disk, and is not fetched again.
    @Test(.timeLimit(.minutes(5))) func aReadDoesNotWaitForTheCommit() async throws {
        let source = InMemorySource(size: Self.size)
        let store = InMemoryChunkStore(layout: ChunkLayout(chunkBytes: 64 << 10, diskBytes: UInt64(Self.size)), holdsCommits: true)
        let scheduler = Self.scheduler(source: source, store: store)
        #expect(try await Self.read(0..<4096, from: scheduler, store: store) == source.bytes(0..<4096))
        #expect(store.waitingCommits == 1 && store.storedCount == 0, "its commit still waits")
        #expect(try await Self.read(4096..<8192, from: scheduler, store: store) == source.bytes(4096..<8192))
        #expect(source.requested.count == 1)
        store.releaseCommits()
        await scheduler.finishStoring()
        #expect(store.storedCount == 1)
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
                try await Self.read(0..<4096, from: scheduler, store: store)
            }
        }
        #expect(try await read.value == source.bytes(0..<4096))
        _ = try await WaitingExecutor.$current.withValue(executor) {
            try await scheduler.fill(8..<9)
        }
        #expect(source.requestPlaces == [true, false])
    }

    /// A fill of chunks 0..<8 while another process fetches 2..<4: this one
    /// fetches the rest, waits for the other's, and fetches no byte of them.
    @Test func chunksAnotherProcessFetchesAreWaitedForNotFetched() async throws {
        let source = InMemorySource(size: Self.size)
        let layout = ChunkLayout(chunkBytes: 64 << 10, diskBytes: UInt64(Self.size))
        let store = InMemoryChunkStore(layout: layout, peer: .init(chunks: [2, 3], finishes: true) { source.bytes($0) })
        let scheduler = Self.scheduler(source: source, store: store)
        let outcome = try await scheduler.fill(0..<8)
        #expect(store.awaitedRuns == [[2..<4]])
        #expect(outcome.bytesFetched == 6 * (64 << 10))
        let fetched = source.requested.sorted { $0.lowerBound < $1.lowerBound }
        #expect(fetched == [layout.byteRange(ofChunks: 0..<2), layout.byteRange(ofChunks: 4..<8)])
        #expect(try await Self.read(0..<(8 << 16), from: scheduler, store: store) == source.bytes(0..<(8 << 16)))
    }

    /// A peer that outlasts the wait: the chunks it holds are fetched here
    /// after all, and the read gets its bytes.
    @Test func aPeerThatOutlastsTheWaitIsFetchedAround() async throws {
        let source = InMemorySource(size: Self.size)
        let layout = ChunkLayout(chunkBytes: 64 << 10, diskBytes: UInt64(Self.size))
        let store = InMemoryChunkStore(layout: layout, peer: .init(chunks: [1], finishes: false) { source.bytes($0) })
        let scheduler = Self.scheduler(source: source, store: store)
        #expect(try await Self.read(0..<(3 << 16), from: scheduler, store: store) == source.bytes(0..<(3 << 16)))
        #expect(store.awaitedRuns == [[1..<2]])
        #expect(Set(source.requested) == [layout.byteRange(ofChunks: 0..<1), layout.byteRange(ofChunks: 2..<3), layout.byteRange(ofChunks: 1..<2)])
    }
}

/// A source whose bytes at `bad` are wrong (a block that fails to verify):
/// any request covering them fails with a ``ConfinedFetchFailure`` once
/// ``open()`` lets requests answer.
final class PartlyBadSource: RangeSource {
    struct BadBytes: ConfinedFetchFailure {
        let failedBytes: Range<UInt64>
    }

    let object: InMemorySource
    let bad: Range<UInt64>
    private let gate = Mutex<(open: Bool, waiting: [CheckedContinuation<Void, Never>])>((false, []))

    init(size: Int, bad: Range<UInt64>) {
        object = InMemorySource(size: size)
        self.bad = bad
    }

    var waitingRequests: Int { gate.withLock { $0.waiting.count } }

    func open() {
        gate.withLock { gate in
            gate.open = true
            defer { gate.waiting = [] }
            return gate.waiting
        }.forEach { $0.resume() }
    }

    func read(_ range: Range<UInt64>, for purpose: FetchPurpose) async throws -> [UInt8] {
        await withCheckedContinuation { continuation in
            let wait = gate.withLock { gate in
                if !gate.open { gate.waiting.append(continuation) }
                return !gate.open
            }
            if !wait { continuation.resume() }
        }
        let bytes = try await object.read(range, for: purpose)
        guard !range.overlaps(bad) else { throw BadBytes(failedBytes: bad) }
        return bytes
    }
}

extension FetchSchedulerTests {
    static let badFillChunk = 64 << 10

    /// A fill of the first 8 chunks, in one request its source holds until
    /// ``PartlyBadSource/open()``, whose seventh chunk's bytes are bad: a
    /// request that fails for one chunk, for reads to join. Returns once the
    /// request is held.
    static func fillWithBadBytes() async throws -> (PartlyBadSource, InMemoryChunkStore, FetchScheduler, Task<FillProgress, any Error>) {
        let chunk = badFillChunk
        let source = PartlyBadSource(size: size, bad: UInt64(6 * chunk)..<UInt64(6 * chunk + 4096))
        let store = InMemoryChunkStore(layout: ChunkLayout(chunkBytes: chunk, diskBytes: UInt64(size)))
        let scheduler = FetchScheduler(
            source: source, connections: 4, contentSize: UInt64(size), layout: store.chunkLayout, store: store)
        let fill = Task { try await scheduler.fill(0..<8) }
        // Waiting for a state, not a time: each check sleeps, so the pool's
        // threads stay free for the tasks being waited for.
        while source.waitingRequests == 0 { try await Task.sleep(for: .milliseconds(1)) }
        return (source, store, scheduler, fill)
    }

    /// A read that joined a request which then failed for another chunk's
    /// bytes (a block that did not verify) asks for its own chunk again
    /// and gets it; a read of the bad chunk fails.
    @Test(.timeLimit(.minutes(5))) func aReadIsNotFailedByAnotherChunksBadBytes() async throws {
        let chunk = Self.badFillChunk
        let (source, store, scheduler, fill) = try await Self.fillWithBadBytes()
        let read = Task { try await Self.read(chunk..<2 * chunk, from: scheduler, store: store) }
        while scheduler.counters.joinedChunks == 0 { try await Task.sleep(for: .milliseconds(1)) }
        source.open()
        await #expect(throws: PartlyBadSource.BadBytes.self) { try await fill.value }
        #expect(try await read.value == source.object.bytes(chunk..<2 * chunk))
        #expect(source.object.requested == [0..<UInt64(8 * chunk), UInt64(chunk)..<UInt64(2 * chunk)])
        await #expect(throws: PartlyBadSource.BadBytes.self) {
            try await scheduler.bring(UInt64(6 * chunk)..<UInt64(6 * chunk + 4096))
        }
    }
}

/// A source whose requests stop at each of `stops` (byte offsets), the
/// bytes before it written, until ``release()`` lets them on to the next;
/// with `failingAtTheLastStop`, a request released from its last stop
/// fails there instead of writing the rest.
final class SteppedSource: RangeSource {
    struct Failure: Error {}

    let object: InMemorySource
    let stops: [UInt64]
    let failingAtTheLastStop: Bool
    private let gate = Mutex<(released: Int, stopped: Int, waiting: [CheckedContinuation<Void, Never>])>((0, 0, []))

    init(size: Int, stops: [UInt64], failingAtTheLastStop: Bool = false) {
        object = InMemorySource(size: size)
        self.stops = stops
        self.failingAtTheLastStop = failingAtTheLastStop
    }

    /// How many times a request stopped, all told.
    var stopped: Int { gate.withLock { $0.stopped } }

    /// Lets every request on past its stop; `all`: past every stop.
    func release(all: Bool = false) {
        gate.withLock { gate in
            gate.released = all ? stops.count : gate.released + 1
            defer { gate.waiting = [] }
            return gate.waiting
        }.forEach { $0.resume() }
    }

    func read(_ range: Range<UInt64>, for purpose: FetchPurpose) async throws -> [UInt8] {
        try await object.read(range, for: purpose)
    }

    func read(_ range: Range<UInt64>, for purpose: FetchPurpose, into sink: any FetchSink) async throws {
        let bytes = try await object.read(range, for: purpose)
        var written = 0
        for (index, stop) in stops.enumerated() {
            let end = Int(min(max(stop, range.lowerBound), range.upperBound) - range.lowerBound)
            try write(bytes[written..<max(written, end)], of: range, to: sink)
            written = max(written, end)
            await pass(stop: index)
        }
        if failingAtTheLastStop { throw Failure() }
        try write(bytes[written...], of: range, to: sink)
    }

    private func write(_ bytes: ArraySlice<UInt8>, of range: Range<UInt64>, to sink: any FetchSink) throws {
        try bytes.withUnsafeBytes { try sink.write($0, at: range.lowerBound + UInt64(bytes.startIndex)) }
    }

    private func pass(stop index: Int) async {
        await withCheckedContinuation { continuation in
            let wait = gate.withLock { gate in
                gate.stopped += 1
                if gate.released <= index { gate.waiting.append(continuation) }
                return gate.released <= index
            }
            if !wait { continuation.resume() }
        }
    }
}

extension FetchSchedulerTests {
    /// A read of 16 chunks made a request that stopped before its first
    /// byte; a read of bytes in its first chunk joined it; the request went
    /// on to its stop after 8 chunks: what the joining read got, with the
    /// first read still waiting.
    struct JoinedHalfway {
        let store: InMemoryChunkStore
        let scheduler: FetchScheduler
        let whole: Task<[UInt8], any Error>
        let firstBytes: [UInt8]
    }

    static let chunk = 64 << 10

    static func joinHalfway(_ source: SteppedSource) async throws -> JoinedHalfway {
        let store = InMemoryChunkStore(layout: ChunkLayout(chunkBytes: chunk, diskBytes: UInt64(size)))
        let scheduler = FetchScheduler(
            source: source, connections: 4, contentSize: UInt64(size), layout: store.chunkLayout, store: store)
        let whole = Task { try await read(0..<16 * chunk, from: scheduler, store: store) }
        // Waiting for a state, not a time: each check sleeps, so the pool's
        // threads stay free for the tasks being waited for.
        while source.stopped == 0 { try await Task.sleep(for: .milliseconds(1)) }
        let first = Task { try await read(4096..<8192, from: scheduler, store: store) }
        while scheduler.counters.joinedChunks == 0 { try await Task.sleep(for: .milliseconds(1)) }
        source.release()
        // Should the read wait for the whole request, the time limit cancels
        // the test, and the source lets the request end so the run goes on.
        let firstBytes = try await withTaskCancellationHandler {
            try await first.value
        } onCancel: {
            source.release(all: true)
        }
        return JoinedHalfway(store: store, scheduler: scheduler, whole: whole, firstBytes: firstBytes)
    }

    /// A read waits for the chunks it wants, not for the whole request it
    /// joined: a request stopped halfway answers a read of its first chunk
    /// that joined it before any byte came (and makes only the chunks
    /// written readable), while the read that made it waits for the rest.
    /// Nothing is fetched twice.
    @Test(.timeLimit(.minutes(5))) func aReadOfARequestsFirstChunkDoesNotWaitForItsLast() async throws {
        let source = SteppedSource(size: Self.size, stops: [0, UInt64(8 * Self.chunk)])
        let joined = try await Self.joinHalfway(source)
        #expect(joined.firstBytes == source.object.bytes(4096..<8192))
        #expect(joined.store.knownMissingRuns(in: 0..<1).isEmpty)
        #expect(joined.store.knownMissingRuns(in: 8..<16) == [8..<16], "no chunk past the bytes written is readable")
        source.release()
        #expect(try await joined.whole.value == source.object.bytes(0..<16 * Self.chunk))
        #expect(source.object.requested == [0..<UInt64(16 * Self.chunk)])
    }

    /// A request that fails after a waiting read was given its first chunks
    /// commits those chunks (they were written whole, so no process need
    /// fetch them again); the read that wanted the rest gets the failure.
    @Test(.timeLimit(.minutes(5))) func aFailedRequestCommitsTheChunksItMadeReadable() async throws {
        let source = SteppedSource(size: Self.size, stops: [0, UInt64(8 * Self.chunk)], failingAtTheLastStop: true)
        let joined = try await Self.joinHalfway(source)
        #expect(joined.firstBytes == source.object.bytes(4096..<8192))
        source.release()
        await #expect(throws: SteppedSource.Failure.self) { try await joined.whole.value }
        await joined.scheduler.finishStoring()
        #expect(joined.store.storedCount == 8, "the chunks before the failure are committed, no others")
    }
}

extension FetchSchedulerTests {
    /// Brings `gaps` with no task waiting, and returns what `ready` was told;
    /// nil when the scheduler said there was nothing to bring.
    static func bringWithNoTask(_ gaps: [Range<UInt64>], by scheduler: FetchScheduler) async -> Result<Void, any Error>? {
        // A stream keeps what `ready` says, should it come before `bring` returns.
        let (told, tell) = AsyncStream.makeStream(of: Result<Void, any Error>.self)
        guard scheduler.bring(gaps, then: { tell.yield($0) }) else { return nil }
        for await outcome in told {
            return outcome
        }
        return nil
    }

    /// Two gaps of one read, brought with no task: one call once both are
    /// in, each chunk fetched once; asking again finds nothing to bring.
    @Test(.timeLimit(.minutes(5))) func aReadWithNoTaskIsToldOnceEveryGapIsIn() async throws {
        let source = InMemorySource(size: Self.size)
        let layout = ChunkLayout(chunkBytes: 64 << 10, diskBytes: UInt64(Self.size))
        let store = InMemoryChunkStore(layout: layout)
        let scheduler = Self.scheduler(source: source, store: store)
        let gaps: [Range<UInt64>] = [4096..<8192, (1 << 20)..<(1 << 20) + 512]

        let outcome = try #require(await Self.bringWithNoTask(gaps, by: scheduler))
        #expect(throws: Never.self) { try outcome.get() }
        for gap in gaps {
            var read = [UInt8](repeating: 0, count: gap.count)
            try read.withUnsafeMutableBytes { try store.readHeld(gap, into: $0) }
            #expect(read == source.bytes(Int(gap.lowerBound)..<Int(gap.upperBound)))
        }
        #expect(Set(source.requested) == [layout.byteRange(ofChunks: 0..<1), layout.byteRange(ofChunks: 16..<17)])
        let again = await Self.bringWithNoTask(gaps, by: scheduler)
        #expect(again == nil, "nothing is left to bring")
        await scheduler.finishStoring()
    }

    /// With no task as with one, a read is not failed by a request it
    /// joined that failed for another chunk's bytes: it is told to read
    /// again (and finds its bytes missing); a read of the bad chunk is
    /// failed with the request's error.
    @Test(.timeLimit(.minutes(5))) func aReadWithNoTaskIsFailedOnlyByItsOwnBadBytes() async throws {
        let chunk = Self.badFillChunk
        let (source, _, scheduler, fill) = try await Self.fillWithBadBytes()
        async let own = Self.bringWithNoTask([UInt64(chunk)..<UInt64(2 * chunk)], by: scheduler)
        async let bad = Self.bringWithNoTask([UInt64(6 * chunk)..<UInt64(6 * chunk + 512)], by: scheduler)
        while scheduler.counters.joinedChunks < 2 { try await Task.sleep(for: .milliseconds(1)) }
        source.open()
        await #expect(throws: PartlyBadSource.BadBytes.self) { try await fill.value }
        let ownOutcome = try #require(await own)
        let badOutcome = try #require(await bad)
        #expect(throws: Never.self) { try ownOutcome.get() }
        #expect(throws: PartlyBadSource.BadBytes.self) { try badOutcome.get() }
    }
}

extension FetchSchedulerTests {
    /// A store with no room refuses a read's chunk brought with no task:
    /// the read is told to read again, and the ask that follows
    /// (`bring(_:)`, from a task) gets the refusal at once, so the stack
    /// reads below the cache without fetching the chunk a second time.
    @Test(.timeLimit(.minutes(5))) func aRefusalOfAReadWithNoTaskIsNotFetchedAgain() async throws {
        let source = InMemorySource(size: Self.size)
        let store = InMemoryChunkStore(layout: ChunkLayout(chunkBytes: 64 << 10, diskBytes: UInt64(Self.size)), refusesWrites: true)
        let scheduler = Self.scheduler(source: source, store: store)
        let gap: Range<UInt64> = 4096..<8192

        let outcome = try #require(await Self.bringWithNoTask([gap], by: scheduler))
        #expect(throws: Never.self) { try outcome.get() }
        await #expect(throws: ReadCacheRefusal.self) { try await scheduler.bring(gap) }
        #expect(source.requested.count == 1)
        await scheduler.finishStoring()
    }
}
