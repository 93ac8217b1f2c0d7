import Synchronization

/// Holds a request's task until the planner gives it a connection.
final class StartGate: Sendable {
    private enum State {
        case closed([CheckedContinuation<Void, Never>])
        case open
    }

    private let state = Mutex(State.closed([]))

    /// Returns once the gate is open. Not cancellable: a request is only
    /// made by a task that runs it to its end, so a connection is never lost.
    ///
    /// A gate already open lets the task through without a continuation
    /// (an allocation): a read's request is usually started before its
    /// task first runs.
    func wait() async {
        guard !isOpen else { return }
        await withCheckedContinuation { continuation in
            let openedMeanwhile = state.withLock { state in
                guard case var .closed(waiters) = state else { return true }
                waiters.append(continuation)
                state = .closed(waiters)
                return false
            }
            if openedMeanwhile { continuation.resume() }
        }
    }

    private var isOpen: Bool {
        state.withLock { state in
            if case .open = state { true } else { false }
        }
    }

    func open() {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            guard case let .closed(waiters) = state else { return [] }
            state = .open
            return waiters
        }
        waiters.forEach { $0.resume() }
    }
}
