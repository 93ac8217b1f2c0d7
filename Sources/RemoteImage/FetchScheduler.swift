import LayeredDisk
import Synchronization

/// Turns reads that missed the cache into few, large, parallel range
/// requests, and keeps what the guest will read next on its way.
///
/// Every fetch moves whole chunks of ``layout`` and stores them in the chunk
/// store, if there is one, so data fetched beyond what a read asked for is
/// kept and no byte is fetched twice:
/// - A read waits on fetches already covering its chunks (single-flight),
///   takes chunks stored since the cache above looked, and fetches the rest,
///   merging runs across small stored gaps and splitting at the request
///   limit so big reads go out in parallel.
/// - Reads seen by ``observeRead(_:)`` drive sequential readahead.
/// - ``fill(_:purpose:)`` fetches whatever is missing in a range for `pull`,
///   background fill and trace replay.
/// Reads take connections first; the rest yield (see ``ConnectionSlots``).
/// A fetch hands its bytes to waiting reads before storing them; it stays
/// visible to later reads until it is stored.
///
/// Planning is quick and never waits, so the scheduler's state sits behind a
/// lock rather than in an actor: a read plans on its own thread (a
/// connection's event loop) instead of hopping to another thread and back
/// for every miss.
public final class FetchScheduler: ReadObserver {
    public let layout: ChunkLayout
    public let policy: FetchPolicy
    private let image: RemoteImage
    /// Bytes of the object that hold disk data; the disk may end in padding.
    private let contentSize: UInt64
    private let store: (any ChunkStore)?
    private let onStoreFailure: @Sendable (any Error) -> Void
    private let slots: ConnectionSlots
    private let observations: Mutex<Observations>
    private let state = Mutex(State())

    /// What the scheduler keeps between calls: fetches on their way (by
    /// chunk), readahead bytes in flight, and the counters.
    private struct State {
        var inFlight: [Int: Fetch] = [:]
        var readaheadBytesInFlight: UInt64 = 0
        var counters = FetchCounters()
        var nextFetchID = 0
    }

    private struct Observations {
        var readahead: ReadaheadTracker
        var reads = 0
        var bytesRead: UInt64 = 0
    }

    /// One range request for a run of chunks, from the network to the store.
    struct Fetch: Sendable {
        let id: Int
        let chunks: Range<Int>
        let purpose: FetchPurpose
        let ticket: ConnectionSlots.Ticket
        /// The chunks' bytes, as soon as they arrive.
        let data: Task<[UInt8], any Error>
        /// Ends once the bytes are stored (or storing failed).
        let stored: Task<Void, any Error>
    }

    /// Where a read's bytes come from.
    private enum Source {
        case fetch(Fetch)
        case stored(Range<Int>)
    }

    /// What one ``fill(_:purpose:)`` call fetched itself.
    public struct FillOutcome: Sendable {
        public var requests = 0
        public var bytesFetched: UInt64 = 0

        public init(requests: Int = 0, bytesFetched: UInt64 = 0) {
            self.requests = requests
            self.bytesFetched = bytesFetched
        }

        public mutating func add(_ other: FillOutcome) {
            requests += other.requests
            bytesFetched += other.bytesFetched
        }
    }

    /// - Parameters:
    ///   - layout: the chunks of the disk; its size may exceed `contentSize`
    ///     by padding, which reads as zeros.
    ///   - store: where fetched chunks are kept; without one, nothing is read
    ///     ahead (there is nowhere to keep it) and only concurrent reads share
    ///     fetches.
    ///   - onStoreFailure: told when storing fetched chunks fails (a full
    ///     disk); the reads that wanted them still succeed.
    public init(
        image: RemoteImage,
        contentSize: UInt64,
        layout: ChunkLayout,
        store: (any ChunkStore)?,
        policy: FetchPolicy = FetchPolicy(),
        onStoreFailure: @escaping @Sendable (any Error) -> Void = { _ in }
    ) {
        self.image = image
        self.contentSize = contentSize
        self.layout = layout
        self.store = store
        self.policy = policy
        self.onStoreFailure = onStoreFailure
        slots = ConnectionSlots(count: image.connections, reservedForForeground: policy.connectionsReservedForReads)
        observations = Mutex(Observations(
            readahead: ReadaheadTracker(policy: policy, diskBytes: layout.diskBytes)))
    }

    /// What the scheduler has done so far, with the reads it observed.
    public var statistics: FetchStatistics {
        let observed = observations.withLock { ($0.reads, $0.bytesRead) }
        return FetchStatistics(counters: state.withLock(\.counters), reads: observed.0, bytesRead: observed.1)
    }

    // MARK: Reads

    /// Reads `bytes` (sector-aligned, within the disk) into `buffer`, which
    /// must be focused on exactly those sectors.
    public func read(_ bytes: Range<UInt64>, into buffer: inout SectorBuffer) async throws {
        let sectorBytes = UInt64(buffer.sectorSize)
        let sources = try state.withLock { state in try self.sources(forReading: bytes, in: &state) }
        for source in sources {
            switch source {
            case let .fetch(fetch):
                let data = try await fetch.data.value
                let fetched = layout.byteRange(ofChunks: fetch.chunks)
                let wanted = fetched.clamped(to: bytes)
                let offset = Int(wanted.lowerBound - fetched.lowerBound)
                buffer.copy(data[offset..<offset + wanted.count], toSector: wanted.lowerBound / sectorBytes)
            case let .stored(run):
                guard let store else { continue }
                let wanted = layout.byteRange(ofChunks: run).clamped(to: bytes)
                let sectors = wanted.lowerBound / sectorBytes..<wanted.upperBound / sectorBytes
                try buffer.withUnsafeMutableBytes(of: sectors) { try store.readHeld(wanted, into: $0) }
            }
        }
    }

    /// Notes a read of the disk, cached or not, and starts readahead when a
    /// sequential reader needs it.
    public func observeRead(_ bytes: Range<UInt64>) {
        let ahead = observations.withLock { observations in
            observations.reads += 1
            observations.bytesRead += UInt64(bytes.count)
            return store == nil ? nil : observations.readahead.noteRead(bytes)
        }
        guard let ahead else { return }
        try? state.withLock { state in try readAhead(ahead, in: &state) }
    }

    /// Plans a read: joins fetches in flight, takes stored chunks, and starts
    /// fetches for the rest.
    private func sources(forReading bytes: Range<UInt64>, in state: inout State) throws -> [Source] {
        state.counters.misses += 1
        state.counters.bytesMissed += UInt64(bytes.count)
        let chunks = layout.chunks(overlapping: bytes)
        let missing = try store?.missingRuns(in: chunks) ?? [chunks]
        var sources: [Source] = []
        var pending: [Range<Int>] = []
        func startPending() {
            let runs = merged(pending, gap: policy.foregroundMergeGap, limit: policy.foregroundRequestLimit, in: &state)
            sources += start(runs, for: .read, in: &state).map(Source.fetch)
            pending = []
        }
        for chunk in chunks {
            if let fetch = state.inFlight[chunk] {
                state.counters.joinedChunks += 1
                if case let .fetch(last) = sources.last, last.id == fetch.id { continue }
                startPending()
                if !fetch.purpose.isForeground { slots.promote(fetch.ticket) }
                sources.append(.fetch(fetch))
            } else if missing.contains(where: { $0.contains(chunk) }) {
                pending.append(chunk..<chunk + 1)
            } else {
                state.counters.storedChunks += 1
                if case let .stored(run) = sources.last, run.upperBound == chunk {
                    sources[sources.count - 1] = .stored(run.lowerBound..<chunk + 1)
                } else {
                    sources.append(.stored(chunk..<chunk + 1))
                }
            }
        }
        startPending()
        return sources
    }

    /// Starts readahead of `bytes`, or of as much of their start as fits
    /// under ``FetchPolicy/readaheadInFlightLimit`` (nothing when that is
    /// less than a first window).
    private func readAhead(_ bytes: Range<UInt64>, in state: inout State) throws {
        let room = policy.readaheadInFlightLimit - min(policy.readaheadInFlightLimit, state.readaheadBytesInFlight)
        // Less room than a first window makes requests too small to be worth it.
        let usableRoom = room < min(policy.initialReadahead, UInt64(bytes.count)) ? 0 : room
        let affordable = bytes.lowerBound..<min(bytes.upperBound, bytes.lowerBound + usableRoom)
        if affordable.upperBound < bytes.upperBound {
            observations.withLock { $0.readahead.withdraw(bytes, issuedUpTo: affordable.upperBound) }
        }
        guard !affordable.isEmpty else { return }
        _ = try startMissing(in: [layout.chunks(overlapping: affordable)], for: .readahead, in: &state)
    }

    // MARK: Fills

    /// Fetches every chunk in `chunks` the store lacks, waiting for fetches
    /// already covering some, and returns once all are stored. Throws when
    /// a fetch or storing fails.
    public func fill(_ chunks: Range<Int>, purpose: FetchPurpose = .fill) async throws -> FillOutcome {
        try await fill([chunks], purpose: purpose)
    }

    /// The same for several runs of chunks at once, which may be merged into
    /// shared requests across small gaps.
    public func fill(_ runs: [Range<Int>], purpose: FetchPurpose = .fill) async throws -> FillOutcome {
        let (started, joined) = try state.withLock { state in try startMissing(in: runs, for: purpose, in: &state) }
        for fetch in started + joined {
            try await fetch.stored.value
        }
        return FillOutcome(
            requests: started.count,
            bytesFetched: started.reduce(0) { $0 + UInt64(layout.byteRange(ofChunks: $1.chunks).count) })
    }

    /// Starts background fetches for the chunks in `runs` that are neither
    /// stored nor on their way; returns them and the fetches already covering
    /// the rest. Requests start in the order of the runs they serve first.
    private func startMissing(
        in runs: [Range<Int>], for purpose: FetchPurpose, in state: inout State
    ) throws -> (started: [Fetch], joined: [Fetch]) {
        var joined: [Int: Fetch] = [:]
        var firstWanted: [Int: Int] = [:]
        for (position, run) in runs.enumerated() {
            for missing in try store?.missingRuns(in: run) ?? [run] {
                for chunk in missing {
                    if let fetch = state.inFlight[chunk] {
                        joined[fetch.id] = fetch
                    } else if firstWanted[chunk] == nil {
                        firstWanted[chunk] = position
                    }
                }
            }
        }
        let pending = firstWanted.keys.sorted().map { $0..<$0 + 1 }
        let requests = merged(pending, gap: policy.backgroundMergeGap, limit: policy.backgroundRequestLimit, in: &state)
            .map { run in (run: run, wanted: run.compactMap { firstWanted[$0] }.min() ?? .max) }
            .sorted { $0.wanted < $1.wanted }
            .map(\.run)
        return (start(requests, for: purpose, in: &state), Array(joined.values))
    }

    /// Returns once every fetch started so far has been stored (or failed),
    /// so a command can exit without losing what it fetched.
    public func finishStoring() async {
        while let fetch = state.withLock({ $0.inFlight.values.first }) {
            _ = try? await fetch.stored.value
        }
    }

    // MARK: Fetching

    /// Joins adjacent single chunks into runs, merges runs across gaps of at
    /// most `gap` bytes, and cuts the result into requests of at most `limit`.
    private func merged(_ chunks: [Range<Int>], gap: UInt64, limit: UInt64, in state: inout State) -> [Range<Int>] {
        let chunkBytes = UInt64(layout.chunkBytes)
        let gapChunks = Int(gap / chunkBytes)
        let perRequest = max(1, Int(limit / chunkBytes))
        var runs: [(run: Range<Int>, pieces: Int)] = []
        for chunk in chunks {
            if let last = runs.last, chunk.lowerBound <= last.run.upperBound + gapChunks,
               chunk.upperBound - last.run.lowerBound <= perRequest,
               !(last.run.upperBound..<chunk.lowerBound).contains(where: { state.inFlight[$0] != nil }) {
                let isGap = chunk.lowerBound > last.run.upperBound
                runs[runs.count - 1] = (last.run.lowerBound..<chunk.upperBound, last.pieces + (isGap ? 1 : 0))
            } else {
                runs.append((chunk, 1))
            }
        }
        state.counters.mergedRequests += runs.filter { $0.pieces > 1 }.count
        return runs.map(\.run)
    }

    private func start(_ runs: [Range<Int>], for purpose: FetchPurpose, in state: inout State) -> [Fetch] {
        runs.map { start($0, for: purpose, in: &state) }
    }

    private func start(_ chunks: Range<Int>, for purpose: FetchPurpose, in state: inout State) -> Fetch {
        state.nextFetchID += 1
        let id = state.nextFetchID
        let ticket = slots.makeTicket()
        let bytes = layout.byteRange(ofChunks: chunks)
        let data = Task { [image, slots, contentSize] in
            await slots.acquire(ticket, foreground: purpose.isForeground)
            defer { slots.release(ticket) }
            return try await Self.download(bytes, from: image, contentSize: contentSize)
        }
        let stored = Task { [self, store, onStoreFailure] in
            var fetchedBytes = 0
            defer { finish(id, chunks: chunks, purpose: purpose, fetchedBytes: fetchedBytes) }
            let fetched = try await data.value
            fetchedBytes = fetched.count
            do {
                try await store?.storeChunks(fetched[...], from: chunks.lowerBound)
            } catch {
                onStoreFailure(error)
                throw error
            }
        }
        let fetch = Fetch(id: id, chunks: chunks, purpose: purpose, ticket: ticket, data: data, stored: stored)
        if purpose == .readahead {
            state.readaheadBytesInFlight += UInt64(bytes.count)
        }
        for chunk in chunks where state.inFlight[chunk] == nil {
            state.inFlight[chunk] = fetch
        }
        return fetch
    }

    private func finish(_ id: Int, chunks: Range<Int>, purpose: FetchPurpose, fetchedBytes: Int) {
        state.withLock { state in
            for chunk in chunks where state.inFlight[chunk]?.id == id {
                state.inFlight[chunk] = nil
            }
            state.counters.recordRequest(purpose, bytes: UInt64(fetchedBytes))
            if purpose == .readahead {
                state.readaheadBytesInFlight -= UInt64(layout.byteRange(ofChunks: chunks).count)
            }
        }
    }

    /// The bytes of `range` of the disk: the object's bytes, then zeros for
    /// any padding past its end.
    private static func download(_ range: Range<UInt64>, from image: RemoteImage, contentSize: UInt64) async throws -> [UInt8] {
        let available = range.lowerBound..<max(range.lowerBound, min(range.upperBound, contentSize))
        var bytes = available.isEmpty ? [] : try await image.read(available)
        if bytes.count < range.count {
            bytes.append(contentsOf: repeatElement(0, count: range.count - bytes.count))
        }
        return bytes
    }
}
