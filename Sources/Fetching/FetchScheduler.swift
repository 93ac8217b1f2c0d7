import CoreMetrics
import LayeredDisk
import Synchronization

/// Carries out what the ``FetchPlanner`` decides, as the file cache's
/// filler: reads that missed the cache become few, large, parallel range
/// requests to a ``RangeSource`` (the layer below the cache), whose bodies
/// stream into the cache through its write-no-overwrite path; what a
/// sequential reader will want next is already on its way.
///
/// Every request moves whole chunks of ``layout``, so data fetched beyond
/// what a read asked for is kept and no byte is fetched twice. A request
/// holds none of its bytes in memory: a read waiting for it is told once the
/// chunks it wants are written (its bytes come in order, so a read of a
/// large readahead request's first chunk does not wait for its last) and
/// reads the cache like any hit (a miss is a hit that waited). The commit
/// that makes them durable follows, and the request stays joinable until it
/// is committed.
///
/// The planner sits behind a lock rather than in an actor: planning is quick
/// and never waits, and a read plans on its own thread (a connection's event
/// loop) instead of hopping to another thread and back for every miss. I/O
/// (store lookups, downloads, stores) happens outside the lock.
public final class FetchScheduler: ReadObserver, ReadCacheFiller {
    public let layout: ChunkLayout
    public let policy: FetchPolicy
    private let source: any RangeSource
    /// Whether readahead's bytes may wait for room in the store (in the
    /// source's transfer) instead of making it forget bytes not yet read;
    /// off once the scheduler finishes, so no transfer waits for a reader
    /// that will not come.
    private let readaheadWaitsForRoom: Atomic<Bool>
    /// Made once, not for every fetch: a cold read's fetch allocates nothing
    /// it does not use.
    private let resumeHeldReads: @Sendable () -> Void
    /// Bytes of the source that hold disk data; the disk may end in padding.
    private let contentSize: UInt64
    private let store: any ChunkStore
    private let onStoreFailure: @Sendable (any Error) -> Void
    private let state: Mutex<State>
    /// Requests downloading now (started, not yet arrived), for the metrics.
    private let downloading = Meter(label: "lazydisk_fetches_in_flight")

    private struct State {
        var planner: FetchPlanner
        var fetches: [Int: Fetch] = [:]
        /// Readahead being planned: waiting for the store to say what it lacks.
        var readaheadPlans: [Int: Task<Void, Never>] = [:]
        var nextPlanID = 0
        /// Chunks the store refused for a read that waited with no task
        /// (``bring(_:then:)``), newest last: that read asks ``bring(_:)``
        /// next, which reads below the cache at once instead of fetching
        /// them again. A few are kept; each is taken once.
        var refusals: [(chunks: Range<Int>, refusal: ReadCacheRefusal)] = []
    }

    /// How many refusals ``State/refusals`` keeps.
    private static let refusalsKept = 16

    /// One planned request, from its start gate to the commit.
    private struct Fetch: Sendable {
        let chunks: Range<Int>
        let gate: StartGate
        /// Told when every byte is in the store, for the reads that wait.
        let arrival: Arrival
        /// Ends once the bytes are committed (or fetching or storing failed),
        /// with the bytes this process fetched (not those another process
        /// fetched and this one waited for).
        let stored: Task<UInt64, any Error>
    }

    /// - Parameters:
    ///   - connections: requests that may run at once.
    ///   - layout: the chunks of the disk; its size may exceed `contentSize`
    ///     by padding, which reads as zeros.
    ///   - store: the cache the fetched chunks go to.
    ///   - onStoreFailure: told when storing fetched chunks fails (a full
    ///     disk); the reads that wanted them read the layers below instead.
    public init(
        source: any RangeSource,
        connections: Int,
        contentSize: UInt64,
        layout: ChunkLayout,
        store: any ChunkStore,
        policy: FetchPolicy = FetchPolicy(),
        latency: Duration = .zero,
        onStoreFailure: @escaping @Sendable (any Error) -> Void = { _ in }
    ) {
        self.source = source
        self.contentSize = contentSize
        self.layout = layout
        self.store = store
        self.policy = policy
        self.onStoreFailure = onStoreFailure
        state = Mutex(State(planner: FetchPlanner(
            layout: layout, policy: policy, connections: connections, latency: latency)))
        let waitsForRoom = source.holdsReadsForFullSinks && store.refusesWritesForRoom
        readaheadWaitsForRoom = Atomic(waitsForRoom)
        resumeHeldReads = { [source] in source.resumeHeldReads() }
        if waitsForRoom {
            store.onRoomMade(resumeHeldReads)
        }
    }

    /// What the scheduler has done so far, with the reads it observed.
    public var counters: FetchCounters {
        state.withLock(\.planner.counters)
    }

    /// The size of a background request the link asks for now.
    public var backgroundRequestBytes: UInt64 {
        state.withLock(\.planner.backgroundRequestBytes)
    }

    // MARK: Reads

    /// Returns once the store holds every chunk `bytes` overlaps (written,
    /// perhaps not yet committed): those it lacks are fetched, or waited for
    /// where a request already brings them. The plan goes by what this
    /// process knows the store holds; the fetch's claim looks at what other
    /// processes stored, once. Throws the fetch's error, or
    /// ``ReadCacheRefusal`` when the store refused the bytes.
    ///
    /// A fetch that failed only for bytes this read does not want (a
    /// ``ConfinedFetchFailure``: a block that did not verify, in a request
    /// it shared with others) is not this read's failure: it asks for its
    /// own chunks again.
    public func bring(_ bytes: Range<UInt64>) async throws {
        let chunks = layout.chunks(overlapping: bytes)
        if let refusal = takeRefusal(overlapping: chunks) {
            throw refusal
        }
        for attempt in 1...Self.attemptsPastOthersFailures {
            let arrivals = plannedArrivals(for: bytes, chunks: chunks)
            guard !arrivals.isEmpty else { return }
            do {
                for arrival in arrivals {
                    try await arrival.wait(forChunksBefore: chunks.upperBound)
                }
                return
            } catch let failure as any ConfinedFetchFailure where attempt < Self.attemptsPastOthersFailures
                && isOthers(failure, for: chunks) {
                continue
            }
        }
    }

    /// The same with no task: `ready` is called once the store holds every
    /// chunk `gaps` overlap, on the thread that wrote the last of them, or
    /// with the first fetch error that is the read's own. A failure that is
    /// not (a ``ConfinedFetchFailure`` for other bytes, or the store's
    /// ``ReadCacheRefusal``) comes as success: the read then finds its bytes
    /// missing and asks ``bring(_:)``, which handles both (a refusal by
    /// throwing it again, with no second fetch).
    public func bring(_ gaps: [Range<UInt64>], then ready: @escaping @Sendable (Result<Void, any Error>) -> Void) -> Bool {
        var waits: [(arrival: Arrival, chunks: Range<Int>)] = []
        for gap in gaps {
            let chunks = layout.chunks(overlapping: gap)
            waits += plannedArrivals(for: gap, chunks: chunks).map { ($0, chunks) }
        }
        guard !waits.isEmpty else { return false }
        let countdown = waits.count == 1 ? nil : ArrivalCountdown(waits.count, ready: ready)
        for (arrival, chunks) in waits {
            arrival.whenWritten(chunksBefore: chunks.upperBound) { [self] outcome in
                let outcome = outcome.flatMapError { error in
                    if let refusal = error as? ReadCacheRefusal {
                        remember(refusal, of: chunks)
                    }
                    return isReadsOwn(error, for: chunks) ? .failure(error) : .success(())
                }
                if let countdown { countdown.arrived(outcome) } else { ready(outcome) }
            }
        }
        return true
    }

    /// Plans a read of `bytes` (`chunks`) the cache did not answer, from
    /// what the store is known to lack; returns the arrivals it waits for,
    /// none when the store has every chunk.
    private func plannedArrivals(for bytes: Range<UInt64>, chunks: Range<Int>) -> [Arrival] {
        let missing = store.knownMissingRuns(in: chunks)
        guard !missing.isEmpty else { return [] }
        return perform { $0.read(bytes, missing: missing) } picking: { plan, fetches in
            plan.sources.compactMap { source -> Arrival? in
                guard case let .fetch(id) = source else { return nil }
                return fetches[id]?.arrival
            }
        }
    }

    private func remember(_ refusal: ReadCacheRefusal, of chunks: Range<Int>) {
        state.withLock { state in
            if state.refusals.count == Self.refusalsKept {
                state.refusals.removeFirst()
            }
            state.refusals.append((chunks, refusal))
        }
    }

    /// The refusal of chunks overlapping `chunks`, forgotten as it is taken.
    private func takeRefusal(overlapping chunks: Range<Int>) -> ReadCacheRefusal? {
        state.withLock { state in
            guard let index = state.refusals.lastIndex(where: { $0.chunks.overlaps(chunks) }) else { return nil }
            return state.refusals.remove(at: index).refusal
        }
    }

    /// Whether `failure` is of bytes outside `chunks`: another read's.
    private func isOthers(_ failure: any ConfinedFetchFailure, for chunks: Range<Int>) -> Bool {
        !layout.chunks(overlapping: failure.failedBytes).overlaps(chunks)
    }

    /// Whether `error` fails the read of `chunks` that waited for it: not
    /// a refusal by the store, nor a confined failure of other chunks.
    private func isReadsOwn(_ error: any Error, for chunks: Range<Int>) -> Bool {
        if error is ReadCacheRefusal { return false }
        if let failure = error as? any ConfinedFetchFailure { return !isOthers(failure, for: chunks) }
        return true
    }

    /// How many times a read asks again after fetches it joined failed for
    /// other chunks' bytes.
    private static let attemptsPastOthersFailures = 3

    /// Notes a read of the disk, cached or not, and starts readahead when a
    /// sequential reader needs it: once the store says what it lacks, which
    /// may mean reading its bitmap, so not on the reader's thread.
    public func observeRead(_ bytes: Range<UInt64>) {
        state.withLock { state in
            guard let ahead = state.planner.observe(bytes) else { return }
            let id = state.nextPlanID
            state.nextPlanID += 1
            state.readaheadPlans[id] = Task {
                if let missing = try? await store.missingRuns(in: ahead), !missing.isEmpty {
                    perform { $0.fill(missing, purpose: .readahead) }
                }
                _ = self.state.withLock { $0.readaheadPlans.removeValue(forKey: id) }
            }
        }
    }

    /// A bulk reader's finished read is handed to the store as passed:
    /// only once it has its bytes, so they are not let go of under it.
    public func readFinished(_ bytes: Range<UInt64>) {
        if state.withLock({ $0.planner.isBulkRead(bytes) }) {
            store.bulkReaderPassed(bytes)
        }
    }

    // MARK: Fills

    /// Fetches every chunk in `chunks` the store lacks, waiting for fetches
    /// already covering some, and returns once all are stored: what it
    /// wanted, what it fetched itself, and the rest as already cached (or
    /// fetched by another request it waited for). Throws when a fetch or
    /// storing fails.
    public func fill(_ chunks: Range<Int>, purpose: FetchPurpose = .fill) async throws -> FillProgress {
        try await fill([chunks], purpose: purpose)
    }

    /// The same for several runs of chunks at once, which may be merged into
    /// shared requests across small gaps.
    public func fill(_ runs: [Range<Int>], purpose: FetchPurpose = .fill) async throws -> FillProgress {
        let missing = try await store.missingRuns(in: runs)
        let (created, joined) = perform { $0.fill(missing, purpose: purpose) } picking: { plan, fetches in
            (plan.created.compactMap { fetches[$0.id]?.stored }, plan.joined.compactMap { fetches[$0]?.stored })
        }
        var progress = FillProgress()
        progress.bytesWanted = runs.reduce(0) { $0 + layout.byteCount(ofChunks: $1) }
        for stored in created {
            let fetched = try await stored.value
            progress.requests += fetched > 0 ? 1 : 0
            progress.bytesFetched += fetched
        }
        for stored in joined {
            _ = try await stored.value
        }
        progress.bytesAlreadyCached = progress.bytesWanted - min(progress.bytesWanted, progress.bytesFetched)
        return progress
    }

    /// Returns once every request made or being planned so far has been
    /// stored (or failed), so a command can exit without losing what it
    /// fetched.
    public func finishStoring() async {
        readaheadWaitsForRoom.store(false, ordering: .relaxed)
        resumeHeldReads()
        while let plan = state.withLock({ $0.readaheadPlans.values.first }) {
            await plan.value
        }
        while let fetch = state.withLock({ $0.fetches.values.first }) {
            _ = try? await fetch.stored.value
        }
    }

    // MARK: Performing plans

    /// Runs `event` on the planner, makes the requests it created and opens
    /// the gates of those it started; returns what `pick` takes from the
    /// plan and the fetches in flight, under the same lock, so a fetch it
    /// names cannot end before it is taken. (Taking only what the caller
    /// waits on, not a dictionary of every fetch the plan names, kept a
    /// cold read's allocations down.)
    private func perform<Picked: Sendable>(
        _ event: (inout FetchPlanner) -> FetchPlanner.Plan,
        picking pick: (FetchPlanner.Plan, [Int: Fetch]) -> Picked
    ) -> Picked {
        let (picked, gates) = state.withLock { state in
            let plan = event(&state.planner)
            for request in plan.created {
                state.fetches[request.id] = makeFetch(request)
            }
            return (pick(plan, state.fetches), plan.started.compactMap { state.fetches[$0]?.gate })
        }
        gates.forEach { $0.open() }
        return picked
    }

    /// The same, for an event whose requests nobody waits on here.
    private func perform(_ event: (inout FetchPlanner) -> FetchPlanner.Plan) {
        perform(event) { _, _ in () }
    }

    /// Tells the planner of an event that may start queued requests, and
    /// starts them.
    private func tell(_ event: (inout FetchPlanner) -> [Int], whileLocked alsoDo: (inout State) -> Void = { _ in }) {
        let gates = state.withLock { state in
            alsoDo(&state)
            return event(&state.planner).compactMap { state.fetches[$0]?.gate }
        }
        gates.forEach { $0.open() }
    }

    /// The task of one request: once started, bring its chunks into the
    /// store (fetched, or waited for where another process fetches them),
    /// tell the waiting reads, then commit them and let go of the claim.
    private func makeFetch(_ request: FetchPlanner.Request) -> Fetch {
        let gate = StartGate()
        let mayWaitForRoom = request.purpose == .readahead && readaheadWaitsForRoom.load(ordering: .relaxed)
        let arrival = Arrival(
            chunks: request.chunks, makeReadable: { [store] in store.wrote($0) }, whenAwaited: mayWaitForRoom ? resumeHeldReads : nil)
        let waitsForRoom = mayWaitForRoom ? bytesMayWaitForRoom(in: arrival) : nil
        // A read's fetch runs where the read waits (an NBD connection's event
        // loop), so its answer crosses from curl's thread to that one only.
        // Detached: it needs none of the reader's task-local values, and
        // copying them into every new task cost two allocations a read.
        let executor = request.purpose.isForeground ? WaitingExecutor.current : nil
        let stored = Task.detached(executorPreference: executor) { [self] in
            var fetchedBytes: UInt64 = 0
            defer {
                // One step: once the planner forgets the request, no plan names it.
                tell { planner in
                    planner.finished(request.id, fetchedBytes: fetchedBytes)
                } whileLocked: { $0.fetches[request.id] = nil }
            }
            await gate.wait()
            var claims: [ChunkClaim] = []
            defer { claims.forEach { $0.release() } }
            let started = ContinuousClock.now
            let shared: SharedFetch
            do {
                downloading.increment()
                defer {
                    downloading.decrement()
                    tell { $0.arrived(request.id) }
                }
                shared = try await bringShared(request.chunks, for: request.purpose, claims: &claims, mayWaitForRoom: waitsForRoom) { [layout] writtenThrough in
                    arrival.written(chunksBefore: layout.chunkCount(before: writtenThrough))
                }
                store.wrote(request.chunks)
                arrival.arrived()
            } catch {
                arrival.failed(error)
                if error is ReadCacheRefusal { onStoreFailure(error) }
                let readable = arrival.readableChunks
                if !readable.isEmpty {
                    try? await store.commitChunks([readable])
                }
                throw error
            }
            fetchedBytes = shared.fetchedBytes
            if !shared.waited {
                let duration = ContinuousClock.now - started
                state.withLock { $0.planner.measured(bytes: fetchedBytes, duration: duration) }
            }
            do {
                try await store.commitChunks([request.chunks])
            } catch {
                onStoreFailure(error)
                throw error
            }
            return fetchedBytes
        }
        return Fetch(chunks: request.chunks, gate: gate, arrival: arrival, stored: stored)
    }

    /// Whether a readahead's bytes at an offset may wait for room: bytes
    /// of the source (not the zeros of padding past its end, which no
    /// transfer holds), while no read waits for their chunk and the
    /// scheduler has not finished.
    private func bytesMayWaitForRoom(in arrival: Arrival) -> @Sendable (UInt64) -> Bool {
        let chunkBytes = UInt64(layout.chunkBytes)
        return { [self] offset in
            offset < contentSize && readaheadWaitsForRoom.load(ordering: .relaxed)
                && arrival.noReadWaits(forChunk: Int(offset / chunkBytes))
        }
    }

    /// What bringing a request's chunks in came to.
    private struct SharedFetch {
        var fetchedBytes: UInt64 = 0
        /// Whether it waited for another process, so its time says nothing
        /// of the link.
        var waited = false
    }

    /// Brings `chunks` into the store, fetching what this process can claim
    /// and waiting, meanwhile, for what other processes sharing the store
    /// are fetching: each byte is fetched once per host. Chunks a process
    /// let go of without storing (it failed or died) are claimed again.
    ///
    /// The wait is bounded by ``waitLimit(forChunks:)``: a peer slower than
    /// this process's own link would be does not hold a read longer than
    /// about fetching it again would, and the rest is then fetched here
    /// without a claim (writing the same bytes twice is harmless).
    ///
    /// When this process fetches every chunk itself in one transfer,
    /// `progress` is told how far from the start its bytes are written, and
    /// `mayWaitForRoom` says which of them may wait for room in the store.
    private func bringShared(
        _ chunks: Range<Int>, for purpose: FetchPurpose, claims: inout [ChunkClaim],
        mayWaitForRoom: (@Sendable (UInt64) -> Bool)?, progress: @escaping @Sendable (UInt64) -> Void
    ) async throws -> SharedFetch {
        var outcome = SharedFetch()
        var (mine, theirs) = try await claim(CollectionOfOne(chunks), into: &claims)
        while !theirs.isEmpty {
            outcome.waited = true
            let claimedNow = mine
            async let fetchedMine = download(claimedNow, for: purpose)
            let released = await store.awaitRelease(of: theirs, within: waitLimit(forChunks: theirs))
            outcome.fetchedBytes += try await fetchedMine
            let pending = try await store.missingRuns(in: theirs)
            guard released else {
                outcome.fetchedBytes += try await download(pending, for: purpose)
                return outcome
            }
            guard !pending.isEmpty else { return outcome }
            (mine, theirs) = try await claim(pending, into: &claims)
        }
        let isWhole = mine.count == 1 && mine[0] == chunks
        outcome.fetchedBytes += try await download(
            mine, for: purpose, progress: isWhole ? progress : nil, mayWaitForRoom: isWhole ? mayWaitForRoom : nil)
        return outcome
    }

    /// Claims each of `runs` in the store, adding the claims to `claims`;
    /// returns the runs this fetch is to fetch and those another process
    /// fetches. One run (every fetch's first round) makes no array of its own.
    private func claim(
        _ runs: some Collection<Range<Int>>, into claims: inout [ChunkClaim]
    ) async throws -> (mine: [Range<Int>], theirs: [Range<Int>]) {
        let first = claims.count
        for run in runs {
            claims.append(try await store.claim(run))
        }
        let made = claims[first...]
        if made.count == 1, let only = made.first {
            return (only.claimed, only.heldElsewhere)
        }
        return (made.flatMap(\.claimed), made.flatMap(\.heldElsewhere))
    }

    /// How long a fetch waits for another process's fetch of `chunks`:
    /// twice what fetching them would take by this process's estimate of
    /// its link, plus a second for a peer that started late or runs on a
    /// busy host.
    private func waitLimit(forChunks chunks: [Range<Int>]) -> Duration {
        let bytes = chunks.reduce(0) { $0 + layout.byteCount(ofChunks: $1) }
        let estimate = state.withLock { $0.planner.link.timeToFetch(bytes) }
        return .seconds(1) + estimate * 2
    }

    /// Streams `runs` of chunks into the store at once; returns the bytes.
    /// `progress` follows a single run (see ``StoringSink``).
    private func download(
        _ runs: [Range<Int>], for purpose: FetchPurpose, progress: (@Sendable (UInt64) -> Void)? = nil,
        mayWaitForRoom: (@Sendable (UInt64) -> Bool)? = nil
    ) async throws -> UInt64 {
        if runs.count == 1 {
            return try await download(layout.byteRange(ofChunks: runs[0]), for: purpose, progress: progress, mayWaitForRoom: mayWaitForRoom)
        }
        let ranges = runs.map(layout.byteRange(ofChunks:))
        try await withThrowingTaskGroup(of: Void.self) { group in
            for range in ranges {
                group.addTask { _ = try await self.download(range, for: purpose, progress: nil, mayWaitForRoom: nil) }
            }
            try await group.waitForAll()
        }
        return ranges.reduce(0) { $0 + UInt64($1.count) }
    }

    /// Streams `range` of the disk into the store: the source's bytes, then
    /// zeros for any padding past its end; returns the bytes. Throws
    /// ``ReadCacheRefusal`` when the store refuses them (a full disk).
    private func download(
        _ range: Range<UInt64>, for purpose: FetchPurpose, progress: (@Sendable (UInt64) -> Void)?,
        mayWaitForRoom: (@Sendable (UInt64) -> Bool)?
    ) async throws -> UInt64 {
        let sink = StoringSink(store: store, from: range.lowerBound, progress: progress, mayWaitForRoom: mayWaitForRoom)
        do {
            let available = range.lowerBound..<max(range.lowerBound, min(range.upperBound, contentSize))
            if !available.isEmpty {
                try await source.read(available, for: purpose, into: sink)
            }
            if available.upperBound < range.upperBound {
                try Array(repeating: UInt8(0), count: Int(range.upperBound - available.upperBound))
                    .withUnsafeBytes { try sink.write($0, at: available.upperBound) }
            }
            try sink.finish()
        } catch {
            if let refusal = sink.failure { throw ReadCacheRefusal(refusal) }
            throw error
        }
        return UInt64(range.count)
    }
}
