import Synchronization

/// Replies that finished together, written to the socket together.
///
/// Every write through the channel ends in a flush, a system call that wakes
/// the client; with many requests in flight, the first request to finish
/// opens a batch, lets the others that are ready finish too, and writes
/// everything gathered in one flush.
final class NBDReplyBatch: Sendable {
    private struct State {
        var replies: [NBDServerMessage] = []
        var isOpen = false
    }

    private let state = Mutex(State())

    /// Adds `replies`; returns true when they opened a new batch, whose
    /// caller then writes it (after ``close()``).
    func add(_ replies: [NBDServerMessage]) -> Bool {
        state.withLock { state in
            state.replies += replies
            defer { state.isOpen = true }
            return !state.isOpen
        }
    }

    /// Everything gathered since the batch opened; the next ``add(_:)`` opens
    /// a new one.
    func close() -> [NBDServerMessage] {
        state.withLock { state in
            defer { state = State() }
            return state.replies
        }
    }
}
