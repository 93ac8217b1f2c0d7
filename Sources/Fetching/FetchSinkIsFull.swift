/// What a sink throws when it has no room for bytes now: a source that
/// ``RangeSource/holdsReadsForFullSinks`` keeps them and offers them again
/// once told to ``RangeSource/resumeHeldReads()``; any other source fails
/// the read with it.
///
/// The memory cache of `--no-cache` refuses readahead's bytes this way when
/// it holds only bytes no reader has taken yet: a paused transfer waits in
/// the kernel's socket buffer instead of making the cache forget what was
/// fetched for a reader that has yet to come (docs/benchmarks.md).
public struct FetchSinkIsFull: Error {
    public init() {}
}
