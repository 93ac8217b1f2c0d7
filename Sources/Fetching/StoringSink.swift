import LayeredDisk
import Synchronization

/// Streams a fetch's bytes into the chunk store, in the pieces the store
/// writes best (``ChunkStore/fetchedWriteUnit``), and remembers how storing
/// failed, so the fetch can tell a full disk from a failed download.
final class StoringSink: FetchSink {
    private let store: any ChunkStore
    private let state: Mutex<State>

    private struct State {
        /// Nil when the store takes the bytes as they come.
        var gathering: WriteGathering?
        var failure: (any Error)?
    }

    init(store: any ChunkStore) {
        self.store = store
        let unit = store.fetchedWriteUnit
        state = Mutex(State(gathering: unit > 0 ? WriteGathering(unit: unit) : nil))
    }

    /// Why the store refused bytes, if it did.
    var failure: (any Error)? { state.withLock { $0.failure } }

    func write(_ bytes: UnsafeRawBufferPointer, at offset: UInt64) throws {
        try storing { state in
            if state.gathering != nil {
                try state.gathering?.add(bytes, at: offset, write: store.writeFetched)
            } else {
                try store.writeFetched(bytes, at: offset)
            }
        }
    }

    /// Writes what is still gathered: call once every byte went to ``write(_:at:)``.
    func finish() throws {
        try storing { state in try state.gathering?.flush(write: store.writeFetched) }
    }

    private func storing(_ body: (inout State) throws -> Void) throws {
        try state.withLock { state in
            do {
                try body(&state)
            } catch {
                state.failure = state.failure ?? error
                throw error
            }
        }
    }
}
