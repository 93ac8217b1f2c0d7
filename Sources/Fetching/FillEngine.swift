import LayeredDisk

/// Fetches what a chunk store lacks, in the background: the one engine
/// behind `pull`, boot-trace replay and a server's background fill.
///
/// Each request's chunks are stored (data made durable, then their bits)
/// as soon as they arrive, so a fill that is interrupted or killed resumes
/// where it stopped. Before fetching, a request looks again at what other
/// processes stored; the scheduler waits for chunks another process is
/// fetching instead of fetching them again. With a rate limiter, every
/// request waits for its turn under the rate.
public struct FillEngine: Sendable {
    /// A boot trace is replayed in batches of about this many bytes; each
    /// batch is one fill, so nearby chunks share requests.
    public static let traceBatchBytes: UInt64 = 4 << 20

    public let scheduler: FetchScheduler
    public let store: any ChunkStore
    /// The connections the scheduler may use.
    public let connections: Int
    /// Caps the fill's bandwidth, for background fill under a running guest.
    public var rateLimiter: RateLimiter?

    public init(scheduler: FetchScheduler, store: any ChunkStore, connections: Int, rateLimiter: RateLimiter? = nil) {
        self.scheduler = scheduler
        self.store = store
        self.connections = connections
        self.rateLimiter = rateLimiter
    }

    /// Requests under way at once: a quarter more than connections, so
    /// connections keep fetching while earlier requests wait for the flush
    /// that makes them durable.
    var requestsUnderWay: Int { connections + (connections + 3) / 4 }

    private var layout: ChunkLayout { store.chunkLayout }

    /// Fetches every chunk overlapping `bytes` that the store lacks, calling
    /// `progress` after each request. Each request is cut when it starts, at
    /// the size the link asks for by then (``FetchScheduler/backgroundRequestBytes``),
    /// or smaller, so that a small fill has a request for every connection.
    public func fill(_ bytes: Range<UInt64>, progress: (FillProgress) -> Void = { _ in }) async throws -> FillProgress {
        let chunks = layout.chunks(overlapping: bytes)
        var missing = try await store.missingRuns(in: chunks)[...]
        let missingBytes = missing.reduce(0) { $0 + layout.byteCount(ofChunks: $1) }
        var totals = FillProgress()
        totals.bytesWanted = layout.byteCount(ofChunks: chunks)
        totals.bytesAlreadyCached = totals.bytesWanted - missingBytes
        progress(totals)
        // A small fill still spreads over every connection.
        let shareOfConnection = (missingBytes + UInt64(connections) - 1) / UInt64(connections)
        try await withBoundedConcurrency(limit: requestsUnderWay) {
            nextRequest(from: &missing, atMost: min(shareOfConnection, scheduler.backgroundRequestBytes))
        } work: { chunks in
            try await fillRequest(chunks)
        } collect: { outcome in
            totals.bytesFetched += outcome.bytesFetched
            totals.requests += outcome.requests
            totals.bytesAlreadyCached += outcome.bytesAlreadyCached
            progress(totals)
        }
        return totals
    }

    /// Fetches what the store lacks of `ranges`, in their order: the chunks
    /// a boot read first arrive first. Batches of ``traceBatchBytes`` run
    /// `connections` at a time.
    public func fill(inOrder ranges: [Range<UInt64>]) async throws -> FillProgress {
        var batches: [[Range<Int>]] = [[]]
        var batchBytes: UInt64 = 0
        for range in ranges where !range.isEmpty {
            if batchBytes >= Self.traceBatchBytes {
                batches.append([])
                batchBytes = 0
            }
            batches[batches.count - 1].append(layout.chunks(overlapping: range))
            batchBytes += UInt64(range.count)
        }
        var totals = FillProgress()
        try await withBoundedConcurrency(batches.filter { !$0.isEmpty }, limit: connections) { batch in
            // The rate is for what is fetched: chunks already cached cost none.
            let missing = try await store.missingRuns(in: batch)
            try await rateLimiter?.admit(missing.reduce(0) { $0 + layout.byteCount(ofChunks: $1) })
            return try await scheduler.fill(missing)
        } collect: { outcome in
            totals.add(outcome)
        }
        return totals
    }

    /// Fetches what the store still lacks of `chunks` (another process may
    /// have stored some since the fill began), under the rate.
    private func fillRequest(_ chunks: Range<Int>) async throws -> FillProgress {
        let missing = try await store.missingRuns(in: chunks)
        try await rateLimiter?.admit(missing.reduce(0) { $0 + layout.byteCount(ofChunks: $1) })
        var outcome = try await scheduler.fill(missing)
        outcome.bytesWanted = layout.byteCount(ofChunks: chunks)
        outcome.bytesAlreadyCached = outcome.bytesWanted - min(outcome.bytesWanted, outcome.bytesFetched)
        return outcome
    }

    /// The next request's chunks, `bytes` at most, cut from the front of the
    /// first run.
    private func nextRequest(from runs: inout ArraySlice<Range<Int>>, atMost bytes: UInt64) -> Range<Int>? {
        guard let run = runs.first else { return nil }
        let perRequest = max(1, Int(bytes / UInt64(layout.chunkBytes)))
        let request = run.lowerBound..<min(run.lowerBound + perRequest, run.upperBound)
        if request == run {
            runs.removeFirst()
        } else {
            runs[runs.startIndex] = request.upperBound..<run.upperBound
        }
        return request
    }
}
