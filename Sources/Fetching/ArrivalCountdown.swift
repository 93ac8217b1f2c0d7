import Synchronization

/// Waits for several arrivals with one callback: `ready` is called once,
/// with the first failure, or with success when the last one came.
final class ArrivalCountdown: Sendable {
    private let state: Mutex<(remaining: Int, isDone: Bool)>
    private let ready: @Sendable (Result<Void, any Error>) -> Void

    init(_ count: Int, ready: @escaping @Sendable (Result<Void, any Error>) -> Void) {
        state = Mutex((count, false))
        self.ready = ready
    }

    func arrived(_ outcome: Result<Void, any Error>) {
        let isLast = state.withLock { state in
            guard !state.isDone else { return false }
            state.remaining -= 1
            if case .failure = outcome { state.isDone = true } else { state.isDone = state.remaining == 0 }
            return state.isDone
        }
        if isLast { ready(outcome) }
    }
}
