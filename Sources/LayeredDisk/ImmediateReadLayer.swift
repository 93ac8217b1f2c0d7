/// A layer whose reads never suspend: it answers from memory or a local file.
///
/// A read that only such layers serve can then be carried out without a task
/// of its own (see ``BlockDevice/readImmediately(at:count:into:)``), which is most
/// of what a server does once the cache is warm.
public protocol ImmediateReadLayer: DiskLayer {
    /// Does what ``DiskLayer/read(into:marking:)`` does, on the caller's thread.
    func readImmediately(into buffer: inout SectorBuffer, marking marker: inout SectorMarker) throws
}

extension ImmediateReadLayer {
    public func read(into buffer: inout SectorBuffer, marking marker: inout SectorMarker) async throws {
        try readImmediately(into: &buffer, marking: &marker)
    }
}
