import LayeredDisk
import Synchronization

/// Records the order in which reads first touch each chunk, cache hits
/// included, to be saved as a ``BootTrace`` when serving ends.
public final class TraceRecorder: ReadObserver {
    private struct State {
        var seen: Set<Int> = []
        var order: [UInt32] = []
    }

    public let layout: ChunkLayout
    private let state = Mutex(State())

    public init(layout: ChunkLayout) {
        self.layout = layout
    }

    public func observeRead(_ bytes: Range<UInt64>) {
        let chunks = layout.chunks(overlapping: bytes)
        state.withLock { state in
            for chunk in chunks {
                guard let index = UInt32(exactly: chunk), state.seen.insert(chunk).inserted else { continue }
                state.order.append(index)
            }
        }
    }

    /// What has been recorded so far.
    public var trace: BootTrace {
        BootTrace(chunkBytes: UInt32(layout.chunkBytes), chunks: state.withLock(\.order))
    }
}
