import Synchronization

/// Where a request's bytes are for the reads that wait on it: coming, in
/// memory, or written to the store (and dropped from memory), or failed.
///
/// Holding a request's bytes only until the store has them is what bounds
/// the pipeline's memory: readers that come later read the store.
final class FetchedBytes: Sendable {
    /// What a reader gets.
    enum Location {
        case memory([UInt8])
        /// In the store: read them with ``ChunkStore/readHeld(_:into:)``.
        case store
    }

    private enum Stage {
        case coming([CheckedContinuation<Location, any Error>])
        case memory([UInt8])
        case store
        case failed(any Error)
    }

    private let stage = Mutex(Stage.coming([]))

    /// Waits for the bytes; throws the request's error if it failed.
    func location() async throws -> Location {
        try await withCheckedThrowingContinuation { continuation in
            let ready = stage.withLock { stage -> Result<Location, any Error>? in
                switch stage {
                case var .coming(waiters):
                    waiters.append(continuation)
                    stage = .coming(waiters)
                    return nil
                case let .memory(bytes): return .success(.memory(bytes))
                case .store: return .success(.store)
                case let .failed(error): return .failure(error)
                }
            }
            if let ready { continuation.resume(with: ready) }
        }
    }

    func arrived(_ bytes: [UInt8]) {
        settle(.memory(bytes), answer: .success(.memory(bytes)))
    }

    func failed(_ error: any Error) {
        settle(.failed(error), answer: .failure(error))
    }

    /// The store holds the bytes now; memory lets go of them.
    func written() {
        stage.withLock { $0 = .store }
    }

    private func settle(_ next: Stage, answer: Result<Location, any Error>) {
        let waiters = stage.withLock { stage -> [CheckedContinuation<Location, any Error>] in
            guard case let .coming(waiters) = stage else { return [] }
            stage = next
            return waiters
        }
        waiters.forEach { $0.resume(with: answer) }
    }
}
