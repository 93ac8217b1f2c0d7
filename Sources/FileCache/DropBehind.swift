import BitCollections
import Fetching

/// Which cached chunks' pages may leave the page cache.
///
/// For a command that streams the image once (`cat`, `pull`), as
/// `dd oflag=nocache` does: a chunk's pages go once it is committed (clean:
/// they are on disk) and the reader has passed it (`pull` reads nothing, so
/// for it every chunk counts as passed). Without it a 2 GiB `cat` left 2 GiB
/// of the cache in the page cache beside its own output, and the kernel's
/// work on all that memory more than doubled its system time here
/// (docs/benchmarks.md).
///
/// For `serve`, only behind a bulk reader, and only chunks this process
/// fetched: what was in the page cache before stays for other guests, as a
/// sequential scan in PostgreSQL recycles a small ring of its own buffers
/// and leaves the shared ones others brought in.
struct DropBehind {
    /// Whether every chunk counts as passed.
    var passesEveryChunk = false
    /// Chunks the reader passed that were not committed yet.
    private var passedUncommitted: Set<Int> = []
    /// Chunks this process committed (a bit each: an eighth of a byte per
    /// 64 KiB chunk).
    private var committedHere = BitSet()
    /// How many passed, uncommitted chunks are remembered at most (4 GiB
    /// of the default 64 KiB chunks, in a few MiB): a long `serve` whose
    /// fetched bytes cannot be stored (a full disk) passes chunks that never
    /// commit. Beyond it a passed chunk's pages simply stay.
    static let passedUncommittedLimit = 1 << 16

    /// The runs of chunks among `runs`, just committed by this process,
    /// whose pages may go now. `marked` are those whose bits the commit
    /// set: only they count as fetched here, not cached chunks a request
    /// spanned between the missing ones.
    mutating func committed(_ runs: [Range<Int>], marking marked: Set<Int>) -> [Range<Int>] {
        guard !passesEveryChunk else { return runs }
        committedHere.formUnion(marked)
        return runs.flatMap { run in ChunkLayout.runs(in: run) { passedUncommitted.remove($0) != nil } }
    }

    /// The runs of chunks among `chunks`, just passed by the reader, whose
    /// pages may go now: those `isCommitted` says are; the others go at
    /// their commit.
    mutating func passed(_ chunks: Range<Int>, isCommitted: (Int) -> Bool) -> [Range<Int>] {
        ChunkLayout.runs(in: chunks) { chunk in
            if isCommitted(chunk) { return true }
            rememberPassed(chunk)
            return false
        }
    }

    /// The same for a bulk reader of `serve`: chunks this process committed
    /// go now, those it has yet to commit at their commit, and those
    /// committed before it fetched them stay.
    mutating func passedInBulk(_ chunks: Range<Int>, isCommitted: (Int) -> Bool) -> [Range<Int>] {
        ChunkLayout.runs(in: chunks) { chunk in
            if committedHere.contains(chunk) { return true }
            if !isCommitted(chunk) {
                rememberPassed(chunk)
            }
            return false
        }
    }

    private mutating func rememberPassed(_ chunk: Int) {
        if passedUncommitted.count < Self.passedUncommittedLimit {
            passedUncommitted.insert(chunk)
        }
    }
}
