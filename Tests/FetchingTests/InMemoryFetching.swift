import Dispatch
import Fetching
import Foundation
import LayeredDisk
import Synchronization

/// An object whose bytes are a function of their offset, made only when
/// asked for; it logs every range asked of it.
final class InMemorySource: RangeSource {
    let size: Int
    private let log = Mutex<[Range<UInt64>]>([])
    /// For each request, what `place` said while it ran.
    private let places = Mutex<[Bool]>([])
    private let place: @Sendable () -> Bool
    /// The sizes a streamed read hands its bytes over in, the last repeated;
    /// nil: all at once.
    private let pieces: [Int]?

    /// - Parameters:
    ///   - place: asked on each request's thread, say whether it is an
    ///     executor's.
    ///   - pieces: the sizes a streamed read cuts its bytes into, as curl
    ///     does (16 KiB, the first short by the headers); the last repeats.
    init(size: Int, pieces: [Int]? = nil, place: @escaping @Sendable () -> Bool = { false }) {
        self.size = size
        self.pieces = pieces
        self.place = place
    }

    var requested: [Range<UInt64>] { log.withLock { $0 } }
    var requestPlaces: [Bool] { places.withLock { $0 } }

    /// The object's bytes at `range`.
    func bytes(_ range: Range<Int>) -> [UInt8] {
        range.map { UInt8(truncatingIfNeeded: $0 &* 2_654_435_761 >> 13) }
    }

    func read(_ range: Range<UInt64>, for purpose: FetchPurpose) async throws -> [UInt8] {
        log.withLock { $0.append(range) }
        places.withLock { $0.append(place()) }
        await Task.yield()
        return bytes(Int(range.lowerBound)..<Int(range.upperBound))
    }

    func read(_ range: Range<UInt64>, for purpose: FetchPurpose, into sink: any FetchSink) async throws {
        let whole = try await read(range, for: purpose)
        var sizes = (pieces ?? [whole.count])[...]
        var start = 0
        while start < whole.count {
            let end = min(whole.count, start + (sizes.count > 1 ? sizes.removeFirst() : sizes.first!))
            try whole[start..<end].withUnsafeBytes { try sink.write($0, at: range.lowerBound + UInt64(start)) }
            start = end
        }
    }
}

/// A chunk store in memory.
final class InMemoryChunkStore: ChunkStore {
    let chunkLayout: ChunkLayout
    /// Written chunks; readable at once.
    private let chunks = Mutex<[Int: [UInt8]]>([:])
    /// Committed chunks; held, as a file cache's bits say.
    private let committed = Mutex<Set<Int>>([])
    /// Chunks whose every byte is written: held for this process already.
    private let whole = Mutex<Set<Int>>([])
    private let reads = Mutex(0)
    /// Commits wait here while held (nil: they do not wait).
    private let heldCommits: Mutex<[CheckedContinuation<Void, Never>]?>
    private let peer: Peer?
    private let awaited = Mutex<[[Range<Int>]]>([])
    let fetchedWriteUnit: Int
    private let writeLog = Mutex<[Range<UInt64>]>([])

    /// Another process sharing the store, fetching `chunks` when the test
    /// starts: it stores `bytes` of them once waited for, or, when it
    /// never `finishes`, outlasts every wait.
    struct Peer: Sendable {
        var chunks: Set<Int>
        var finishes: Bool
        var bytes: @Sendable (Range<Int>) -> [UInt8]
    }

    /// What a store with no room throws for every write.
    struct NoRoom: Error {}

    /// Throws ``NoRoom`` for every write, as a file cache on a full disk does.
    let refusesWrites: Bool

    init(layout: ChunkLayout, holdsCommits: Bool = false, peer: Peer? = nil, fetchedWriteUnit: Int = 0, refusesWrites: Bool = false) {
        chunkLayout = layout
        self.refusesWrites = refusesWrites
        self.fetchedWriteUnit = fetchedWriteUnit
        heldCommits = Mutex(holdsCommits ? [] : nil)
        self.peer = peer
    }

    /// The runs each wait for the peer was for.
    var awaitedRuns: [[Range<Int>]] { awaited.withLock { $0 } }

    func claim(_ chunks: Range<Int>) async throws -> ChunkClaim {
        let missing = Set(knownMissingRuns(in: chunks).joined())
        let theirs = peer?.chunks ?? []
        return ChunkClaim(
            claimed: ChunkLayout.runs(in: chunks) { missing.contains($0) && !theirs.contains($0) },
            heldElsewhere: ChunkLayout.runs(in: chunks) { missing.contains($0) && theirs.contains($0) })
    }

    func awaitRelease(of chunks: [Range<Int>], within limit: Duration) async -> Bool {
        awaited.withLock { $0.append(chunks) }
        guard let peer, peer.finishes else { return false }
        for run in chunks {
            let range = chunkLayout.byteRange(ofChunks: run)
            try? peer.bytes(Int(range.lowerBound)..<Int(range.upperBound)).withUnsafeBytes { try writeFetched($0, at: range.lowerBound) }
            committed.withLock { $0.formUnion(run) }
        }
        return true
    }

    var storedCount: Int { committed.withLock { $0.count } }
    /// The bytes of each `writeFetched` call, in order.
    var writes: [Range<UInt64>] { writeLog.withLock { $0 } }
    /// Reads answered from the store.
    var readCount: Int { reads.withLock { $0 } }
    var waitingCommits: Int { heldCommits.withLock { $0?.count ?? 0 } }

    /// Lets held commits finish, and later ones go through.
    func releaseCommits() {
        let waiting = heldCommits.withLock { held in
            defer { held = nil }
            return held ?? []
        }
        waiting.forEach { $0.resume() }
    }

    func missingRuns(in range: Range<Int>) throws -> [Range<Int>] {
        knownMissingRuns(in: range)
    }

    func knownMissingRuns(in range: Range<Int>) -> [Range<Int>] {
        let held = committed.withLock { $0 }.union(whole.withLock { $0 })
        return ChunkLayout.runs(in: range) { !held.contains($0) }
    }

    func wrote(_ chunks: Range<Int>) {
        whole.withLock { $0.formUnion(chunks) }
    }

    func readHeld(_ bytes: Range<UInt64>, into target: UnsafeMutableRawBufferPointer) throws {
        reads.withLock { $0 += 1 }
        let held = chunks.withLock { $0 }
        var written = 0
        for chunk in chunkLayout.chunks(overlapping: bytes) {
            let range = chunkLayout.byteRange(ofChunk: chunk).clamped(to: bytes)
            let start = Int(range.lowerBound - chunkLayout.byteRange(ofChunk: chunk).lowerBound)
            let piece = held[chunk]![start..<start + range.count]
            UnsafeMutableRawBufferPointer(rebasing: target[written..<written + piece.count]).copyBytes(from: piece)
            written += piece.count
        }
    }

    /// Written bytes are readable at once and their chunks held once
    /// committed, as in a file cache.
    func writeFetched(_ bytes: UnsafeRawBufferPointer, at offset: UInt64) throws {
        guard !refusesWrites else { throw NoRoom() }
        let written = offset..<offset + UInt64(bytes.count)
        writeLog.withLock { $0.append(written) }
        chunks.withLock { chunks in
            for chunk in chunkLayout.chunks(overlapping: written) {
                let chunkRange = chunkLayout.byteRange(ofChunk: chunk)
                let piece = chunkRange.clamped(to: written)
                var held = chunks[chunk] ?? [UInt8](repeating: 0, count: chunkRange.count)
                let source = UnsafeRawBufferPointer(rebasing: bytes[Int(piece.lowerBound - offset)..<Int(piece.upperBound - offset)])
                held.withUnsafeMutableBytes { target in
                    UnsafeMutableRawBufferPointer(rebasing: target[Int(piece.lowerBound - chunkRange.lowerBound)...]).copyMemory(from: source)
                }
                chunks[chunk] = held
            }
        }
    }

    func commitChunks(_ runs: [Range<Int>]) async throws {
        await withCheckedContinuation { continuation in
            let held = heldCommits.withLock { held in
                held?.append(continuation)
                return held != nil
            }
            if !held { continuation.resume() }
        }
        committed.withLock { committed in
            for run in runs { committed.formUnion(run) }
        }
    }
}

/// A task executor with a thread of its own, so a test can tell whether
/// code ran on it.
final class ThreadTaskExecutor: TaskExecutor, @unchecked Sendable {
    private let jobs = Mutex<[UnownedJob]>([])
    private let ready = DispatchSemaphore(value: 0)
    private let threadID = Mutex<pthread_t?>(nil)

    init() {
        let started = DispatchSemaphore(value: 0)
        Thread { [self] in
            threadID.withLock { $0 = pthread_self() }
            started.signal()
            while true {
                ready.wait()
                let job = jobs.withLock { $0.removeFirst() }
                job.runSynchronously(on: asUnownedTaskExecutor())
            }
        }.start()
        started.wait()
    }

    /// Whether the caller runs on the executor's thread.
    var isCurrent: Bool {
        threadID.withLock { $0.map { pthread_equal($0, pthread_self()) != 0 } ?? false }
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        jobs.withLock { $0.append(job) }
        ready.signal()
    }
}
