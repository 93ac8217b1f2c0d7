import Synchronization

/// Where a request's bytes are for the reads that wait on it: coming, in
/// the store, in memory (where there is no store, or it failed), or failed.
///
/// A request with a store streams its bytes there as they arrive and holds
/// none of them: what bounds the pipeline's memory is then curl's receive
/// buffers, not the bytes in flight.
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

    /// Every byte is in the store (written, perhaps not yet committed).
    func arrivedInStore() {
        settle(.store, answer: .success(.store))
    }

    func failed(_ error: any Error) {
        settle(.failed(error), answer: .failure(error))
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
