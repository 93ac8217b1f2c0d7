import Synchronization

/// When a request's chunks are in the store, for the reads that wait on
/// them: they then read the store like any hit. Or the request's error.
///
/// A request's bytes come in order, so a read waits only for the chunks up
/// to the last it wants: a reader of a request's first chunk is answered
/// once that chunk is written, not after the whole request. Chunks are made
/// readable (``ChunkStore/wrote(_:)``) as the first read that wants them is
/// woken, not as every piece arrives.
final class Arrival: Sendable {
    private struct Waiter {
        /// The chunks before this one must be written.
        let end: Int
        let wake: Wake
    }

    /// How a waiting read is woken: a task's continuation, or a callback
    /// for a read that waits without a task (an NBD server's miss).
    private enum Wake {
        case continuation(CheckedContinuation<Void, any Error>)
        case callback(@Sendable (Result<Void, any Error>) -> Void)

        func callAsFunction(_ outcome: Result<Void, any Error>) {
            switch self {
            case let .continuation(continuation): continuation.resume(with: outcome)
            case let .callback(callback): callback(outcome)
            }
        }
    }

    private struct State {
        /// The chunks before this one are written; none after it may be.
        var written: Int
        /// The chunks before this one are readable.
        var readable: Int
        var waiters: [Waiter] = []
        /// Set once every chunk arrived, or the request failed.
        var outcome: Result<Void, any Error>?
    }

    /// The request's chunks.
    private let chunks: Range<Int>
    private let state: Mutex<State>
    /// Makes written chunks readable, before the reads that want them wake.
    private let makeReadable: @Sendable (Range<Int>) -> Void
    /// Told when a read starts waiting: bytes held for room must come now.
    private let whenAwaited: (@Sendable () -> Void)?

    init(
        chunks: Range<Int>, makeReadable: @escaping @Sendable (Range<Int>) -> Void,
        whenAwaited: (@Sendable () -> Void)? = nil
    ) {
        self.chunks = chunks
        self.makeReadable = makeReadable
        self.whenAwaited = whenAwaited
        state = Mutex(State(written: chunks.lowerBound, readable: chunks.lowerBound))
    }

    /// Returns once the request's chunks before `end` are in the store;
    /// throws the request's error if it failed first.
    func wait(forChunksBefore end: Int) async throws {
        try await withCheckedThrowingContinuation { continuation in
            wake(.continuation(continuation), once: end)
        }
    }

    /// Calls `ready` once the request's chunks before `end` are in the
    /// store, or with the request's error if it failed first: at once when
    /// they are, else on the thread that wrote the chunks.
    func whenWritten(chunksBefore end: Int, then ready: @escaping @Sendable (Result<Void, any Error>) -> Void) {
        wake(.callback(ready), once: end)
    }

    private func wake(_ wake: Wake, once end: Int) {
        let through = min(end, chunks.upperBound)
        let outcome = state.withLock { state -> Result<Void, any Error>? in
            if let outcome = state.outcome { return outcome }
            guard state.written >= through else {
                state.waiters.append(Waiter(end: through, wake: wake))
                return nil
            }
            makeReadable(before: state.written, in: &state)
            return .success(())
        }
        if let outcome {
            wake(outcome)
        } else {
            whenAwaited?()
        }
    }

    /// The request's chunks before `end` are written (not yet readable).
    /// Called as its bytes come, on the thread that writes them. Reads
    /// wanting the last chunk wake at ``arrived()``, on the request's own
    /// executor: waking them here too would cross threads twice for every
    /// request of one chunk, a cold random read's (docs/benchmarks.md).
    func written(chunksBefore end: Int) {
        let due = state.withLock { state -> [Waiter] in
            guard state.outcome == nil, end > state.written else { return [] }
            state.written = end
            guard end < chunks.upperBound else { return [] }
            let due = state.waiters.filter { $0.end <= end }
            guard !due.isEmpty else { return [] }
            makeReadable(before: end, in: &state)
            state.waiters.removeAll { $0.end <= end }
            return due
        }
        due.forEach { $0.wake(.success(())) }
    }

    /// Under the lock, so no read finds chunks counted readable before the
    /// store says they are.
    private func makeReadable(before end: Int, in state: inout State) {
        guard state.readable < end else { return }
        makeReadable(state.readable..<end)
        state.readable = end
    }

    /// Whether no read waits for `chunk` (or for any chunk after it): its
    /// bytes may wait for room in the store.
    func noReadWaits(forChunk chunk: Int) -> Bool {
        state.withLock { state in state.waiters.allSatisfy { $0.end <= chunk } }
    }

    /// The chunks made readable before the request arrived or failed: all
    /// of them written, so a failed request's are still worth committing.
    var readableChunks: Range<Int> {
        state.withLock { chunks.lowerBound..<$0.readable }
    }

    /// Every chunk is in the store and readable.
    func arrived() {
        settle(.success(()))
    }

    func failed(_ error: any Error) {
        settle(.failure(error))
    }

    private func settle(_ outcome: Result<Void, any Error>) {
        let waiters = state.withLock { state -> [Waiter] in
            guard state.outcome == nil else { return [] }
            state.outcome = outcome
            defer { state.waiters = [] }
            return state.waiters
        }
        waiters.forEach { $0.wake(outcome) }
    }
}
