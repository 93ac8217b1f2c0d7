import LayeredDisk
import Synchronization

/// Streams a fetch's bytes into the chunk store, and remembers how storing
/// failed, so the fetch can tell a full disk from a failed download.
final class StoringSink: FetchSink {
    private let store: any ChunkStore
    private let firstFailure = Mutex<(any Error)?>(nil)

    init(store: any ChunkStore) {
        self.store = store
    }

    /// Why the store refused bytes, if it did.
    var failure: (any Error)? { firstFailure.withLock { $0 } }

    func write(_ bytes: UnsafeRawBufferPointer, at offset: UInt64) throws {
        do {
            try store.writeFetched(bytes, at: offset)
        } catch {
            firstFailure.withLock { $0 = $0 ?? error }
            throw error
        }
    }
}
