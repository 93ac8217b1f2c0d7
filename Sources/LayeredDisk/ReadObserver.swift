/// Something that wants to see every read of a disk as it happens, whether a
/// cache answered it or not: readahead that follows a sequential reader, a
/// recorder of the order a guest touches its disk.
public protocol ReadObserver: Sendable {
    /// Called once for every read, with the bytes it covers: before a read
    /// that may wait runs, right after one served at once. Must return
    /// quickly; start any work it implies without waiting for it.
    func observeRead(_ bytes: Range<UInt64>)
    /// Called once a read has its bytes (not for one that failed): what it
    /// covered is behind its reader now. Must return quickly.
    func readFinished(_ bytes: Range<UInt64>)
}

extension ReadObserver {
    /// Nothing to do, unless the observer says otherwise.
    public func readFinished(_ bytes: Range<UInt64>) {}
}
