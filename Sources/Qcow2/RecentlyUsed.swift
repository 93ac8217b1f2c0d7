import Synchronization

/// A small cache that forgets its least recently used entry when full:
/// L2 tables and inflated clusters, shared by concurrent reads.
final class RecentlyUsed<Key: Hashable & Sendable, Value: Sendable>: Sendable {
    private let capacity: Int
    private let state: Mutex<State>

    private struct State {
        var values: [Key: (value: Value, used: UInt64)] = [:]
        var clock: UInt64 = 0
    }

    init(capacity: Int) {
        self.capacity = capacity
        state = Mutex(State())
    }

    subscript(key: Key) -> Value? {
        get {
            state.withLock { state in
                guard let entry = state.values[key] else { return nil }
                state.clock += 1
                state.values[key] = (entry.value, state.clock)
                return entry.value
            }
        }
        set {
            state.withLock { state in
                state.clock += 1
                state.values[key] = newValue.map { ($0, state.clock) }
                if state.values.count > capacity, let oldest = state.values.min(by: { $0.value.used < $1.value.used })?.key {
                    state.values[oldest] = nil
                }
            }
        }
    }
}
