import Fetching
import NIOPosix
import Synchronization
import SystemPackage

/// Drops of the data file's pages asked for on a thread that must not touch
/// the page cache (a connection's event loop): they queue, and one job on
/// the blocking-work pool at a time drops all that queued, so a stream of
/// reads costs a job per batch rather than one per read.
final class PageDropQueue: Sendable {
    private struct State {
        var runs: [Range<Int>] = []
        /// The job dropping now; it goes on until the queue is empty.
        var draining: Task<Void, Never>?
    }

    /// Held, not just its descriptor, so that a drain outliving the cache
    /// never advises a closed descriptor or one reused for another file.
    private let files: CacheFiles
    private let layout: ChunkLayout
    private let pool: NIOThreadPool
    private let state = Mutex(State())

    init(files: CacheFiles, layout: ChunkLayout, pool: NIOThreadPool) {
        self.files = files
        self.layout = layout
        self.pool = pool
    }

    /// The pages of `runs` of chunks leave the page cache soon.
    func enqueue(_ runs: [Range<Int>]) {
        guard !runs.isEmpty else { return }
        state.withLock { state in
            state.runs += runs
            if state.draining == nil {
                state.draining = Task { await self.drain() }
            }
        }
    }

    /// Returns once every drop queued before the call has run.
    func settle() async {
        await state.withLock { $0.draining }?.value
    }

    /// The pages of `runs` of chunks leave the page cache now.
    static func drop(_ runs: [Range<Int>], of file: FileDescriptor, layout: ChunkLayout) {
        for run in runs {
            file.dropCachedPages(layout.byteRange(ofChunks: run))
        }
    }

    private func drain() async {
        while true {
            let runs = state.withLock { state in
                defer { state.runs = [] }
                if state.runs.isEmpty {
                    state.draining = nil
                }
                return state.runs
            }
            guard !runs.isEmpty else { return }
            try? await pool.runIfActive { [files, layout] in Self.drop(runs, of: files.data, layout: layout) }
        }
    }
}
