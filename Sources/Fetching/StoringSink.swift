import LayeredDisk
import Synchronization

/// Streams a fetch's bytes into the chunk store, in the pieces the store
/// writes best (``ChunkStore/fetchedWriteUnit``), and remembers how storing
/// failed, so the fetch can tell a full disk from a failed download. It
/// tells `progress` how far from the start its bytes are written, so the
/// reads waiting for the first of them need not wait for the last. Where
/// `mayWaitForRoom` says bytes may wait, a store without room for them
/// makes the sink throw ``FetchSinkIsFull``, which is not a failure.
final class StoringSink: FetchSink {
    private let store: any ChunkStore
    private let state: Mutex<State>
    private let progress: (@Sendable (UInt64) -> Void)?
    private let mayWaitForRoom: (@Sendable (UInt64) -> Bool)?

    private struct State {
        /// Nil when the store takes the bytes as they come.
        var gathering: WriteGathering?
        var failure: (any Error)?
        /// Every byte before this one is written.
        var writtenThrough: UInt64
    }

    /// A sink for bytes from `start` on.
    init(
        store: any ChunkStore, from start: UInt64, progress: (@Sendable (UInt64) -> Void)? = nil,
        mayWaitForRoom: (@Sendable (UInt64) -> Bool)? = nil
    ) {
        self.store = store
        self.progress = progress
        self.mayWaitForRoom = mayWaitForRoom
        let unit = store.fetchedWriteUnit
        state = Mutex(State(gathering: unit > 0 ? WriteGathering(unit: unit) : nil, writtenThrough: start))
    }

    /// Why the store refused bytes, if it did.
    var failure: (any Error)? { state.withLock { $0.failure } }

    func write(_ bytes: UnsafeRawBufferPointer, at offset: UInt64) throws {
        try storing { state in
            guard var gathering = state.gathering.take() else { return try write(bytes, at: offset, state: &state) }
            defer { state.gathering = gathering }
            try gathering.add(bytes, at: offset) { try write($0, at: $1, state: &state) }
        }
    }

    /// Writes what is still gathered: call once every byte went to ``write(_:at:)``.
    func finish() throws {
        try storing { state in
            guard var gathering = state.gathering.take() else { return }
            defer { state.gathering = gathering }
            try gathering.flush { try write($0, at: $1, state: &state) }
        }
    }

    private func write(_ bytes: UnsafeRawBufferPointer, at offset: UInt64, state: inout State) throws {
        if mayWaitForRoom?(offset) == true {
            guard try store.writeFetchedIfRoom(bytes, at: offset) else { throw FetchSinkIsFull() }
        } else {
            try store.writeFetched(bytes, at: offset)
        }
        guard let progress, offset <= state.writtenThrough else { return }
        state.writtenThrough = max(state.writtenThrough, offset + UInt64(bytes.count))
        progress(state.writtenThrough)
    }

    private func storing(_ body: (inout State) throws -> Void) throws {
        try state.withLock { state in
            do {
                try body(&state)
            } catch let full as FetchSinkIsFull {
                throw full
            } catch {
                state.failure = state.failure ?? error
                throw error
            }
        }
    }
}
