import Fetching
import LayeredDisk
import Synchronization

/// Records the order in which reads first touch each chunk, cache hits
/// included, to be saved as a ``BootTrace`` when serving ends.
public final class TraceRecorder: ReadObserver {
    private struct State {
        /// One bit a chunk: seen already. Every read checks it.
        var seen: [UInt64]
        var order: [UInt32] = []
    }

    public let layout: ChunkLayout
    private let state: Mutex<State>

    public init(layout: ChunkLayout) {
        self.layout = layout
        state = Mutex(State(seen: Array(repeating: 0, count: (layout.chunkCount + 63) / 64)))
    }

    public func observeRead(_ bytes: Range<UInt64>) {
        let chunks = layout.chunks(overlapping: bytes).clamped(to: 0..<layout.chunkCount)
        state.withLock { state in
            for chunk in chunks {
                let bit: UInt64 = 1 << (chunk % 64)
                guard state.seen[chunk / 64] & bit == 0, let index = UInt32(exactly: chunk) else { continue }
                state.seen[chunk / 64] |= bit
                state.order.append(index)
            }
        }
    }

    /// What has been recorded so far.
    public var trace: BootTrace {
        BootTrace(chunkBytes: UInt32(layout.chunkBytes), chunks: state.withLock(\.order))
    }
}
