import Synchronization

/// When a request's bytes are all in the store, for the reads that wait on
/// it: they then read the store like any hit. Or the request's error.
final class Arrival: Sendable {
    private enum Stage {
        case coming([CheckedContinuation<Void, any Error>])
        case arrived
        case failed(any Error)
    }

    private let stage = Mutex(Stage.coming([]))

    /// Returns once the bytes are in the store; throws the request's error
    /// if it failed.
    func wait() async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            let outcome = stage.withLock { stage -> Result<Void, any Error>? in
                switch stage {
                case var .coming(waiters):
                    waiters.append(continuation)
                    stage = .coming(waiters)
                    return nil
                case .arrived: return .success(())
                case let .failed(error): return .failure(error)
                }
            }
            if let outcome { continuation.resume(with: outcome) }
        }
    }

    func arrived() {
        settle(.arrived, outcome: .success(()))
    }

    func failed(_ error: any Error) {
        settle(.failed(error), outcome: .failure(error))
    }

    private func settle(_ next: Stage, outcome: Result<Void, any Error>) {
        let waiters = stage.withLock { stage -> [CheckedContinuation<Void, any Error>] in
            guard case let .coming(waiters) = stage else { return [] }
            stage = next
            return waiters
        }
        waiters.forEach { $0.resume(with: outcome) }
    }
}
