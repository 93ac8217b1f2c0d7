/// A layer that can answer reads without suspending, from memory or a local
/// file: always (a cache: what it lacks it leaves unmarked) or when what it
/// reads from can (a whole device whose bytes are cached).
///
/// A read that only such layers serve can then be carried out without a task
/// of its own (see ``BlockDevice/readImmediately(at:count:into:)``), which is most
/// of what a server does once the cache is warm.
public protocol ImmediateReadLayer: DiskLayer {
    /// Does what ``DiskLayer/read(into:marking:)`` does, on the caller's
    /// thread; returns false, having marked nothing, when it would have to
    /// wait.
    func readImmediately(into buffer: inout SectorBuffer, marking marker: inout SectorMarker) throws -> Bool
}

extension ImmediateReadLayer {
    /// The immediate read, for a layer that always answers; a layer that can
    /// have to wait reads asynchronously itself.
    public func read(into buffer: inout SectorBuffer, marking marker: inout SectorMarker) async throws {
        let answered = try readImmediately(into: &buffer, marking: &marker)
        precondition(answered, "the \(layerType) layer would wait but has no read of its own")
    }
}
