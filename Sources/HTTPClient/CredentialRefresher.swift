import CoreMetrics
import Synchronization

/// The credentials in use, and one refresh at a time when they stop working.
///
/// Every request takes the current credentials with their generation. A
/// request the server rejects asks for a refresh *after* the generation it
/// used: when another request refreshed since, it gets those at once; when
/// a refresh is running, it waits for that one. So a hundred requests
/// rejected together cause one refresh, not a stampede. Refreshes start at
/// least ``minimumInterval`` apart, so a source that keeps handing out
/// rejected credentials is not hammered.
public final class CredentialRefresher: Sendable {
    /// Credentials with the number of refreshes before them.
    public struct Snapshot: Sendable {
        public let credentials: Credentials
        public let generation: Int
    }

    public let minimumInterval: Duration
    private let source: any CredentialSource
    private let state: Mutex<State>

    private struct State {
        var current: Snapshot
        var running: Task<Snapshot, any Error>?
        var lastLoad: ContinuousClock.Instant
    }

    private enum Next {
        case ready(Snapshot)
        case waitFor(Task<Snapshot, any Error>)
    }

    /// Starts from `initial`, credentials just loaded from `source` (or
    /// pieced together from what the caller already had), and refreshes from
    /// `source`.
    public init(source: any CredentialSource, initial: Credentials, minimumInterval: Duration = .seconds(1)) {
        self.source = source
        self.minimumInterval = minimumInterval
        state = Mutex(State(current: Snapshot(credentials: initial, generation: 0), lastLoad: .now))
    }

    /// Credentials that never change (and are never refreshed).
    public static func fixed(_ credentials: Credentials = Credentials()) -> CredentialRefresher {
        CredentialRefresher(source: FixedCredentials(credentials), initial: credentials, minimumInterval: .seconds(1))
    }

    /// Whether a refresh can bring anything new.
    public var isRefreshable: Bool { !(source is FixedCredentials) }

    public var current: Snapshot {
        state.withLock(\.current)
    }

    /// Newer credentials than generation `seen`: the ones another refresh
    /// got since, the running refresh's, or a new refresh's. Throws what
    /// the source threw when the refresh fails.
    public func refresh(after seen: Int) async throws -> Snapshot {
        let next: Next = state.withLock { state in
            if state.current.generation > seen {
                return .ready(state.current)
            }
            if let running = state.running {
                return .waitFor(running)
            }
            let earliest = state.lastLoad.advanced(by: minimumInterval)
            let task = Task { try await self.load(notBefore: earliest) }
            state.running = task
            return .waitFor(task)
        }
        switch next {
        case let .ready(snapshot): return snapshot
        case let .waitFor(task): return try await task.value
        }
    }

    /// The same, waiting at most `limit`: a request's wait stays within
    /// its retry time whatever the source does (a command that hangs, a
    /// slow metadata service). The refresh itself goes on for whoever
    /// waits next.
    public func refresh(after seen: Int, within limit: Duration) async throws -> Snapshot {
        let waiter = OneAnswer<Snapshot>()
        return try await withCheckedThrowingContinuation { continuation in
            waiter.wait(with: continuation)
            let refresh = Task {
                do {
                    waiter.answer(.success(try await self.refresh(after: seen)))
                } catch {
                    waiter.answer(.failure(error))
                }
            }
            Task {
                try? await Task.sleep(for: limit)
                if waiter.answer(.failure(RefreshTimedOut(limit: limit))) {
                    refresh.cancel()
                }
            }
        }
    }

    private func load(notBefore earliest: ContinuousClock.Instant) async throws -> Snapshot {
        try? await Task.sleep(until: earliest, clock: .continuous)
        let loaded: Credentials
        do {
            loaded = try await source.load()
        } catch {
            state.withLock { state in
                state.running = nil
                state.lastLoad = .now
            }
            Counter(label: "lazydisk_credential_refreshes_total", dimensions: [("result", "failed")]).increment()
            throw error
        }
        Counter(label: "lazydisk_credential_refreshes_total", dimensions: [("result", "ok")]).increment()
        return state.withLock { state in
            state.current = Snapshot(credentials: loaded, generation: state.current.generation + 1)
            state.running = nil
            state.lastLoad = .now
            return state.current
        }
    }
}

/// A refresh that did not finish within the time a request had left.
public struct RefreshTimedOut: Error, CustomStringConvertible {
    public let limit: Duration

    public var description: String {
        "it did not finish within the \(limit.components.seconds) s the request had left (--retry-max-time)"
    }
}

/// A continuation resumed by whichever answer comes first.
private final class OneAnswer<Value: Sendable>: Sendable {
    private let continuation = Mutex<CheckedContinuation<Value, any Error>?>(nil)

    func wait(with continuation: CheckedContinuation<Value, any Error>) {
        self.continuation.withLock { $0 = continuation }
    }

    /// Resumes the waiter with `result` unless it was answered before;
    /// returns whether this was the answer.
    @discardableResult
    func answer(_ result: Result<Value, any Error>) -> Bool {
        guard let waiting = continuation.withLock({ $0.take() }) else { return false }
        waiting.resume(with: result)
        return true
    }
}
