import LayeredDisk

/// Every decision of the fetch pipeline, and no I/O: events go in (a read
/// arrived, a read was observed, a fill was asked for, a fetch's bytes
/// arrived or it failed, a fetch was stored), and plans come out (requests
/// to create, which of them start now on a connection, where a read's bytes
/// come from). ``FetchScheduler`` performs the plans.
///
/// The rules, each tested on its own in `FetchPlannerTests`:
/// - **Single-flight.** A chunk in flight (from request to store) is never
///   requested again; a read or fill that wants it joins its fetch.
/// - **Merging.** Missing runs separated by small gaps become one request,
///   never across a chunk in flight; requests are capped in size (a sliver
///   under a quarter of the cap rides with the piece before it). Reads use
///   the foreground gap and cap, everything else the background gap and the
///   size the link asks for (``backgroundRequestBytes``); readahead, which a
///   reader waits for soon, is spread over the connections in smaller
///   requests (``readaheadRequestBytes(for:)``).
/// - **Priorities.** Requests start in order, one connection each. A read's
///   request takes any free connection and queues ahead of all background
///   work; background work leaves ``FetchPolicy/connectionsReservedForReads``
///   free and starts only while the bytes downloading stay under
///   ``FetchPolicy/bytesInFlightLimit`` and the bytes written but not yet
///   committed under ``FetchPolicy/commitLagLimit``. A queued background
///   request a read comes to wait for is promoted to the front.
/// - **Durability off the reader's path.** A request leaves the download
///   budgets when its bytes are written, not when they are committed: the
///   commit (sync, then mark) follows in the background, and only the commit
///   lag holds background work back. Its chunks stay in flight, joinable,
///   until committed.
/// - **Readahead.** Observed reads feed a ``ReadaheadTracker``; a stream's
///   first window is sized from the link (``firstReadaheadWindow``); what it
///   asks for is cut to what ``FetchPolicy/readaheadInFlightLimit`` allows
///   (one budget for every stream), and the rest is handed back to the
///   tracker so its stream asks again.
public struct FetchPlanner: Sendable {
    /// One range request: a run of chunks, fetched for a purpose.
    public struct Request: Sendable, Hashable {
        public let id: Int
        public let chunks: Range<Int>
        public let purpose: FetchPurpose
    }

    /// Where part of a read's bytes come from.
    public enum Source: Sendable, Hashable {
        /// The bytes of request `id`, whose chunks cover them.
        case fetch(id: Int)
        /// Chunks the store already holds.
        case stored(Range<Int>)
    }

    /// What to do after an event.
    public struct Plan: Sendable, Hashable {
        /// Requests made by this event, started or queued.
        public var created: [Request] = []
        /// Requests (new or queued before) that take a connection now.
        public var started: [Int] = []
        /// For a read: its chunks' sources. Each covers its own chunks (a
        /// request merged across stored chunks covers those too).
        public var sources: [Source] = []
        /// For a fill: requests made earlier that cover some of its chunks.
        public var joined: [Int] = []
    }

    private enum Stage {
        case queued
        case running
        /// The bytes arrived (written to the store); their commit has not
        /// finished yet.
        case arrived
    }

    private struct Entry {
        let request: Request
        var stage: Stage
        var bytes: UInt64
    }

    public let layout: ChunkLayout
    public let policy: FetchPolicy
    public private(set) var counters = FetchCounters()
    /// What the link gives, from the requests that finished.
    public private(set) var link: LinkEstimate
    private let connections: Int
    private let reservedForReads: Int
    private var freeConnections: Int
    private var entries: [Int: Entry] = [:]
    /// The request each chunk in flight belongs to, from creation to store.
    private var inFlight: [Int: Int] = [:]
    private var foregroundQueue: [Int] = []
    private var backgroundQueue: [Int] = []
    /// Bytes of requests started whose bytes have not all arrived.
    private var bytesInFlight: UInt64 = 0
    private var readaheadBytesInFlight: UInt64 = 0
    /// Bytes of requests that arrived and are not yet committed.
    private var bytesAwaitingCommit: UInt64 = 0
    private var readahead: ReadaheadTracker
    private var nextID = 0

    /// - Parameters:
    ///   - connections: requests that may run at once.
    ///   - latency: the link's first-byte latency as far as it is known.
    public init(layout: ChunkLayout, policy: FetchPolicy, connections: Int, latency: Duration = .zero) {
        precondition(connections > 0, "a planner needs a connection")
        self.layout = layout
        link = LinkEstimate(latency: latency)
        self.policy = policy
        self.connections = connections
        reservedForReads = min(policy.connectionsReservedForReads, connections - 1)
        freeConnections = connections
        readahead = ReadaheadTracker(policy: policy, diskBytes: layout.diskBytes)
    }

    /// Whether anything is in flight (queued, running, or waiting to be stored).
    public var isIdle: Bool { entries.isEmpty }

    /// The size of a background request now: what the link asks for, within
    /// the policy's bounds.
    public var backgroundRequestBytes: UInt64 {
        link.requestBytes(within: backgroundRequestBounds)
    }

    /// The size of each request a readahead of `bytes` is cut into: spread
    /// over the connections background work may use, so a window arrives in
    /// about one request's time, not in the time of several large requests
    /// on a few connections while the others idle (a reader waits for it
    /// soon); no smaller than a background request may be, and no larger
    /// than ``backgroundRequestBytes``.
    func readaheadRequestBytes(for bytes: UInt64) -> UInt64 {
        let spread = bytes / UInt64(connections - reservedForReads)
        return min(backgroundRequestBytes, max(backgroundRequestBounds.lowerBound, spread))
    }

    /// The policy's bounds on a background request's size.
    private var backgroundRequestBounds: ClosedRange<UInt64> {
        let largest = policy.backgroundRequestLimit
        return min(policy.smallestBackgroundRequest, largest)...largest
    }

    /// The first readahead window of a stream: what one connection carries
    /// in nine first-byte latencies, as for a background request, so a new
    /// stream's first requests keep the link busy rather than waiting on
    /// their latency (within ``FetchPolicy/initialReadahead`` and
    /// ``FetchPolicy/readaheadLimit``; the smaller while the rate is unknown).
    public var firstReadaheadWindow: UInt64 {
        link.requestBytes(within: policy.initialReadahead...policy.readaheadLimit)
    }

    // MARK: Events

    /// A read of `bytes` that the cache above did not answer; `missing` are
    /// the runs of its chunks the store lacks (all of them without a store).
    public mutating func read(_ bytes: Range<UInt64>, missing: [Range<Int>]) -> Plan {
        counters.misses += 1
        counters.bytesMissed += UInt64(bytes.count)
        var plan = Plan()
        var pending: [Range<Int>] = []
        func createPending() {
            let runs = merged(pending, gap: policy.foregroundMergeGap, limit: policy.foregroundRequestLimit)
            for run in runs {
                let request = create(run, for: .read)
                plan.created.append(request)
                plan.sources.append(.fetch(id: request.id))
            }
            pending = []
        }
        for chunk in layout.chunks(overlapping: bytes) {
            if let id = inFlight[chunk] {
                counters.joinedChunks += 1
                if plan.sources.last == .fetch(id: id) { continue }
                createPending()
                promote(id)
                plan.sources.append(.fetch(id: id))
            } else if missing.contains(where: { $0.contains(chunk) }) {
                pending.append(chunk..<chunk + 1)
            } else {
                counters.storedChunks += 1
                if case let .stored(run) = plan.sources.last, run.upperBound == chunk {
                    plan.sources[plan.sources.count - 1] = .stored(run.lowerBound..<chunk + 1)
                } else {
                    plan.sources.append(.stored(chunk..<chunk + 1))
                }
            }
        }
        createPending()
        plan.started = startWhatCan()
        return plan
    }

    /// Notes a read of the disk, cached or not; returns the chunks to fetch
    /// ahead of a sequential reader, if any, to be checked against the store
    /// and handed to ``fill(_:purpose:)`` with purpose `.readahead`.
    public mutating func observe(_ bytes: Range<UInt64>) -> Range<Int>? {
        counters.reads += 1
        counters.bytesRead += UInt64(bytes.count)
        guard let ahead = readahead.noteRead(bytes, firstWindow: firstReadaheadWindow) else { return nil }
        let room = policy.readaheadInFlightLimit - min(policy.readaheadInFlightLimit, readaheadBytesInFlight)
        // Less room than a first window makes requests too small to be worth it.
        let usableRoom = room < min(policy.initialReadahead, UInt64(ahead.count)) ? 0 : room
        let affordable = ahead.lowerBound..<min(ahead.upperBound, ahead.lowerBound + usableRoom)
        if affordable.upperBound < ahead.upperBound {
            readahead.withdraw(ahead, issuedUpTo: affordable.upperBound)
        }
        return affordable.isEmpty ? nil : layout.chunks(overlapping: affordable)
    }

    /// Whether a bulk reader (see ``FetchPolicy/bulkStreamBytes``) has
    /// passed `bytes`, as ``observe(_:)`` noted them.
    public func isBulkRead(_ bytes: Range<UInt64>) -> Bool {
        readahead.isBulkRead(bytes)
    }

    /// Background work for the chunks in `runs` the store lacks: the chunks
    /// already in flight are joined, the rest merged into requests that start
    /// in the order of the runs they serve first.
    public mutating func fill(_ runs: [Range<Int>], purpose: FetchPurpose) -> Plan {
        var plan = Plan()
        var joined: Set<Int> = []
        var firstWanted: [Int: Int] = [:]
        for (position, run) in runs.enumerated() {
            for chunk in run {
                if let id = inFlight[chunk] {
                    if joined.insert(id).inserted { plan.joined.append(id) }
                } else if firstWanted[chunk] == nil {
                    firstWanted[chunk] = position
                }
            }
        }
        let pending = firstWanted.keys.sorted().map { $0..<$0 + 1 }
        let limit = purpose == .readahead
            ? readaheadRequestBytes(for: UInt64(pending.count) * UInt64(layout.chunkBytes))
            : backgroundRequestBytes
        let requests = merged(pending, gap: policy.backgroundMergeGap, limit: limit)
            .map { run in (run: run, wanted: run.compactMap { firstWanted[$0] }.min() ?? .max) }
            .sorted { $0.wanted < $1.wanted }
        for (run, _) in requests {
            plan.created.append(create(run, for: purpose))
        }
        plan.started = startWhatCan()
        return plan
    }

    /// A request's bytes arrived (or it failed): its connection goes to the
    /// next request in priority order, and its bytes move from the download
    /// budgets to the commit lag. Returns the requests that start.
    public mutating func arrived(_ id: Int) -> [Int] {
        guard var entry = entries[id], case .running = entry.stage else { return [] }
        entry.stage = .arrived
        entries[id] = entry
        freeConnections += 1
        bytesInFlight -= entry.bytes
        if entry.request.purpose == .readahead {
            readaheadBytesInFlight -= entry.bytes
        }
        bytesAwaitingCommit += entry.bytes
        return startWhatCan()
    }

    /// A request's `bytes` all arrived `duration` after it started: what the
    /// link gives, for the size of later requests.
    public mutating func measured(bytes: UInt64, duration: Duration) {
        link.record(bytes: bytes, duration: duration)
    }

    /// A request ended: committed, or failed (then `fetchedBytes` is 0). Its
    /// chunks are no longer in flight. Returns the requests that start now
    /// that its bytes left the commit lag.
    public mutating func finished(_ id: Int, fetchedBytes: UInt64) -> [Int] {
        var started = arrived(id)
        guard let entry = entries.removeValue(forKey: id) else { return started }
        for chunk in entry.request.chunks where inFlight[chunk] == id {
            inFlight[chunk] = nil
        }
        foregroundQueue.removeAll { $0 == id }
        backgroundQueue.removeAll { $0 == id }
        if case .arrived = entry.stage {
            bytesAwaitingCommit -= entry.bytes
        }
        counters.recordRequest(entry.request.purpose, bytes: fetchedBytes)
        started += startWhatCan()
        return started
    }

    // MARK: Planning

    private mutating func create(_ chunks: Range<Int>, for purpose: FetchPurpose) -> Request {
        nextID += 1
        let request = Request(id: nextID, chunks: chunks, purpose: purpose)
        let bytes = layout.byteCount(ofChunks: chunks)
        entries[request.id] = Entry(request: request, stage: .queued, bytes: bytes)
        for chunk in chunks where inFlight[chunk] == nil {
            inFlight[chunk] = request.id
        }
        if purpose == .readahead {
            readaheadBytesInFlight += bytes
        }
        if purpose.isForeground {
            foregroundQueue.append(request.id)
        } else {
            backgroundQueue.append(request.id)
        }
        return request
    }

    /// Moves a queued background request to the back of the foreground
    /// queue: a read waits for it now.
    private mutating func promote(_ id: Int) {
        guard let index = backgroundQueue.firstIndex(of: id) else { return }
        foregroundQueue.append(backgroundQueue.remove(at: index))
    }

    /// Starts queued requests while connections allow: reads first on any
    /// free connection, background work only beyond the reserved ones, under
    /// the bytes-in-flight budget and while the commit lag is under its limit
    /// (a request larger than the whole budget still starts when nothing
    /// else is in flight).
    private mutating func startWhatCan() -> [Int] {
        var started: [Int] = []
        while freeConnections > 0 {
            let id: Int
            if !foregroundQueue.isEmpty {
                id = foregroundQueue.removeFirst()
            } else if let next = backgroundQueue.first, freeConnections > reservedForReads,
                      bytesAwaitingCommit < policy.commitLagLimit,
                      bytesInFlight == 0 || bytesInFlight + entries[next]!.bytes <= policy.bytesInFlightLimit {
                id = backgroundQueue.removeFirst()
            } else {
                break
            }
            // Read, changed and written back: the dictionary's modify
            // accessor (`entries[id]?.stage = …`) allocated its coroutine
            // frame on the heap for every request.
            var entry = entries[id]!
            entry.stage = .running
            entries[id] = entry
            bytesInFlight += entry.bytes
            freeConnections -= 1
            started.append(id)
        }
        return started
    }

    /// Joins adjacent single chunks into runs, merges runs across gaps of at
    /// most `gap` bytes (never across a chunk in flight), and cuts the result
    /// into requests of at most `limit` (and a quarter more, see
    /// ``foldSlivers(_:perRequest:)``). One array, folded in place: a cold
    /// read's miss made four, each of one run.
    private mutating func merged(_ chunks: [Range<Int>], gap: UInt64, limit: UInt64) -> [Range<Int>] {
        let chunkBytes = UInt64(layout.chunkBytes)
        let gapChunks = Int(gap / chunkBytes)
        let perRequest = max(1, Int(limit / chunkBytes))
        var runs: [Range<Int>] = []
        /// Whether the last run spans a gap: a merged request.
        var lastSpansGap = false
        for chunk in chunks {
            if let last = runs.last, chunk.lowerBound <= last.upperBound + gapChunks,
               chunk.upperBound - last.lowerBound <= perRequest,
               !(last.upperBound..<chunk.lowerBound).contains(where: { inFlight[$0] != nil }) {
                lastSpansGap = lastSpansGap || chunk.lowerBound > last.upperBound
                runs[runs.count - 1] = last.lowerBound..<chunk.upperBound
            } else {
                counters.mergedRequests += lastSpansGap ? 1 : 0
                lastSpansGap = false
                runs.append(chunk)
            }
        }
        counters.mergedRequests += lastSpansGap ? 1 : 0
        Self.foldSlivers(&runs, perRequest: perRequest)
        return runs
    }

    /// A run cut by the size cap leaves a sliver at its end (a readahead of
    /// a window and one read's worth: 4 + 4 + 0.25 MiB): one that is under
    /// a quarter of the cap rides with the piece before it rather than
    /// costing a request, and a first-byte latency, of its own.
    private static func foldSlivers(_ runs: inout [Range<Int>], perRequest: Int) {
        var kept = 0
        for index in runs.indices {
            let run = runs[index]
            if kept > 0, runs[kept - 1].upperBound == run.lowerBound, run.count * 4 < perRequest {
                runs[kept - 1] = runs[kept - 1].lowerBound..<run.upperBound
            } else {
                runs[kept] = run
                kept += 1
            }
        }
        runs.removeLast(runs.count - kept)
    }
}
