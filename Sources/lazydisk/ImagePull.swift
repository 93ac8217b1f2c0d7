import Fetching
import FileCache
import RemoteImage

/// Fills a file cache from the remote image: every missing chunk in a byte
/// range, fetched through the scheduler in requests of up to
/// ``requestSize`` over all connections.
///
/// Each request's chunks are committed (data made durable, then their bits)
/// as soon as it arrives, so a pull that is interrupted or killed resumes
/// where it stopped. A quarter more requests than there are connections are
/// under way, so connections keep fetching while earlier requests wait for
/// their flush; memory stays at that many requests' bytes. Before
/// fetching, a request looks again at what other processes made durable and
/// skips chunks another process is fetching, coming back to them later.
struct ImagePull {
    static let requestSize: UInt64 = 2 << 20

    /// Requests under way at once: fetching, or stored and waiting for the
    /// flush that makes them durable.
    var requestsUnderWay: Int { connections + (connections + 3) / 4 }
    /// How long to wait before looking again at chunks another process holds.
    static let busyRetryDelay: Duration = .milliseconds(20)

    let scheduler: FetchScheduler
    let cache: FileCacheLayer
    let connections: Int
    /// Caps the pull's bandwidth, for background fill under a running guest.
    var rateLimiter: RateLimiter?

    /// What a pull did, for progress and the summary.
    struct Totals: Sendable {
        var bytesWanted: UInt64 = 0
        var bytesAlreadyCached: UInt64 = 0
        var bytesFetched: UInt64 = 0
        var requests = 0
    }

    /// What one request found and did.
    private struct Outcome: Sendable {
        var fetched: UInt64 = 0
        var requests = 0
        var foundCached: UInt64 = 0
        /// Runs another process was fetching; to look at again.
        var busy: [Range<Int>] = []
    }

    /// Pulls the chunks overlapping `bytes`, calling `progress` after each
    /// request.
    func run(_ bytes: Range<UInt64>, progress: @Sendable (Totals) -> Void) async throws -> Totals {
        let chunks = cache.chunkLayout.chunks(overlapping: bytes)
        var queue = try cache.missingRuns(in: chunks).flatMap(requests(for:)).map { (chunks: $0, wasBusy: false) }
        var totals = Totals()
        totals.bytesWanted = span(chunks)
        totals.bytesAlreadyCached = totals.bytesWanted - queue.reduce(0) { $0 + span($1.chunks) }
        progress(totals)

        try await withThrowingTaskGroup(of: Outcome.self) { group in
            var running = 0
            while running > 0 || !queue.isEmpty {
                while running < requestsUnderWay, !queue.isEmpty {
                    let next = queue.removeFirst()
                    group.addTask { try await pull(next.chunks, afterWaiting: next.wasBusy) }
                    running += 1
                }
                guard let outcome = try await group.next() else { break }
                running -= 1
                totals.bytesFetched += outcome.fetched
                totals.requests += outcome.requests
                totals.bytesAlreadyCached += outcome.foundCached
                queue += outcome.busy.map { (chunks: $0, wasBusy: true) }
                progress(totals)
            }
        }
        return totals
    }

    private func pull(_ chunks: Range<Int>, afterWaiting: Bool) async throws -> Outcome {
        if afterWaiting {
            try await Task.sleep(for: Self.busyRetryDelay)
        }
        var outcome = Outcome()
        for run in try cache.missingRuns(in: chunks) {
            guard let claim = try cache.claim(run) else {
                outcome.busy.append(run)
                continue
            }
            defer { claim.release() }
            // Another process may have finished these just before we claimed them.
            let filled = try await scheduler.fill(run)
            outcome.fetched += filled.bytesFetched
            outcome.requests += filled.requests
        }
        // Whatever was neither fetched here nor left to another process is cached.
        let busy = outcome.busy.reduce(0) { $0 + span($1) }
        outcome.foundCached = span(chunks) - busy - outcome.fetched
        return outcome
    }

    /// A run of missing chunks cut into requests of at most ``requestSize``.
    private func requests(for run: Range<Int>) -> [Range<Int>] {
        let perRequest = max(1, Int(Self.requestSize / UInt64(cache.header.chunkSize)))
        return stride(from: run.lowerBound, to: run.upperBound, by: perRequest).map {
            $0..<min($0 + perRequest, run.upperBound)
        }
    }

    private func span(_ chunks: Range<Int>) -> UInt64 {
        UInt64(cache.chunkLayout.byteRange(ofChunks: chunks).count)
    }
}
