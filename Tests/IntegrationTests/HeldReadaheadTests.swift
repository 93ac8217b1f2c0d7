import FileCache
import Fetching
import LayeredDisk
import Synchronization
import Testing

/// `--no-cache`'s readahead waits for room in its memory cache instead of
/// making it forget bytes no read has taken, and never keeps a read or the
/// end of a command waiting.
@Suite("Held readahead", .timeLimit(.minutes(5)))
struct HeldReadaheadTests {
    static let chunk = 4096

    /// An object whose bytes are a function of their offset, streamed a
    /// chunk a piece; a piece its sink has no room for is held until
    /// ``resumeHeldReads()``, as curl holds a paused transfer's.
    final class HoldingSource: RangeSource {
        struct State {
            var requested: [Range<UInt64>] = []
            var holds = 0
            var resumePending = false
            var held: [CheckedContinuation<Void, Never>] = []
            var holdWatchers: [CheckedContinuation<Void, Never>] = []
            /// Nothing is held any more (a test out of time lets go).
            var letGo = false
        }
        let state = Mutex(State())

        static func byte(at offset: UInt64) -> UInt8 { UInt8(truncatingIfNeeded: offset / 7) }

        var holdsReadsForFullSinks: Bool { true }

        func read(_ range: Range<UInt64>, for purpose: FetchPurpose) async throws -> [UInt8] {
            range.map(Self.byte(at:))
        }

        func read(_ range: Range<UInt64>, for purpose: FetchPurpose, into sink: any FetchSink) async throws {
            state.withLock { $0.requested.append(range) }
            for start in stride(from: range.lowerBound, to: range.upperBound, by: HeldReadaheadTests.chunk) {
                let piece = (start..<min(range.upperBound, start + UInt64(HeldReadaheadTests.chunk))).map(Self.byte(at:))
                while true {
                    do {
                        try piece.withUnsafeBytes { try sink.write($0, at: start) }
                        break
                    } catch is FetchSinkIsFull {
                        await hold()
                    }
                }
            }
        }

        func resumeHeldReads() {
            let held = state.withLock { state in
                defer { state.held = [] }
                state.resumePending = state.held.isEmpty
                return state.held
            }
            held.forEach { $0.resume() }
        }

        /// Holds nothing from now on. A test whose time runs out calls it:
        /// a read that waits on held bytes ignores cancellation, and would
        /// keep the test process alive after its time limit failed it.
        func letGo() {
            state.withLock { $0.letGo = true }
            resumeHeldReads()
        }

        /// Returns once a piece has been held.
        func firstHold() async {
            await withCheckedContinuation { continuation in
                let held = state.withLock { state in
                    if state.holds == 0 { state.holdWatchers.append(continuation) }
                    return state.holds > 0
                }
                if held { continuation.resume() }
            }
        }

        private func hold() async {
            await withCheckedContinuation { continuation in
                let (resumeNow, watchers) = state.withLock { state in
                    state.holds += 1
                    defer { state.holdWatchers = [] }
                    if state.resumePending || state.letGo {
                        state.resumePending = false
                        return (true, state.holdWatchers)
                    }
                    state.held.append(continuation)
                    return (false, state.holdWatchers)
                }
                watchers.forEach { $0.resume() }
                if resumeNow { continuation.resume() }
            }
        }
    }

    let source = HoldingSource()
    /// Sixteen chunks, four of which the cache holds.
    let cache = MemoryCacheLayer(sectorCount: 128, sectorSize: 512, chunkBytes: chunk, limitBytes: 4 * chunk)
    let scheduler: FetchScheduler

    init() {
        scheduler = FetchScheduler(
            source: source, connections: 4, contentSize: UInt64(16 * Self.chunk), layout: cache.chunkLayout, store: cache,
            policy: .memoryCache(inFlight: 1 << 20, readaheadLimit: 1 << 20))
    }

    /// A readahead of twelve chunks fills the cache with four no read has
    /// taken and waits. A read of its ninth chunk is answered all the same:
    /// the bytes it waits for overdraw the cache rather than wait. The
    /// readahead ends once the scheduler finishes, and every byte was
    /// asked for once.
    @Test func aReadOfAHeldReadaheadsChunkIsAnswered() async throws {
        let readahead = Task { try await scheduler.fill([0..<12], purpose: .readahead) }
        await source.firstHold()
        let ninth = UInt64(8 * Self.chunk)..<UInt64(9 * Self.chunk)
        try await withTaskCancellationHandler {
            try await scheduler.bring(ninth)
        } onCancel: { [source] in
            source.letGo()
        }
        var bytes = [UInt8](repeating: 0, count: Self.chunk)
        try bytes.withUnsafeMutableBytes { try cache.readHeld(ninth, into: $0) }
        #expect(bytes == ninth.map(HoldingSource.byte(at:)))
        await scheduler.finishStoring()
        _ = try await readahead.value
        #expect(source.state.withLock { $0.requested } == [0..<UInt64(12 * Self.chunk)])
    }

    /// Readahead nobody reads is let go of when the scheduler finishes, so
    /// a command that ends does not wait on it.
    @Test func finishingLetsReadaheadNobodyReadsComplete() async throws {
        let readahead = Task { try await scheduler.fill([0..<12], purpose: .readahead) }
        await source.firstHold()
        await scheduler.finishStoring()
        let progress = try await readahead.value
        #expect(progress.bytesFetched == UInt64(12 * Self.chunk))
        #expect(source.state.withLock { $0.holds } >= 1)
    }
}
