/// A disk: a fixed-size array of sectors that can be read, written, flushed and
/// unmapped.
///
/// Everything that serves or consumes a disk (the NBD server, `lazydisk cat`)
/// talks to this protocol, so a ``LayeredDisk``, an ``InMemoryDisk`` or any
/// future backend is interchangeable behind it. Requests are checked against
/// the geometry and refused with a ``DiskError``; they never trap.
public protocol BlockDevice: Sendable {
    /// Bytes per logical sector; a power of two.
    var sectorSize: Int { get }
    /// The number of sectors, fixed for the device's life.
    var sectorCount: UInt64 { get }
    /// A stable identifier the guest may see, if the disk has a natural one.
    var diskID: DiskID? { get }
    /// The sector size the backing store works in; writes smaller than this
    /// may cost a read-modify-write.
    var physicalSectorSize: Int { get }
    /// Whether a write with `fua` set is durable when it completes.
    var isFUARespected: Bool { get }
    /// Whether writes and unmaps are refused.
    var isReadOnly: Bool { get }
    /// What reads return after an unmap.
    var unmapBehavior: UnmapBehavior { get }
    /// The unmap granularity, in sectors, that the device handles best.
    var optimalUnmapSectors: UInt32 { get }

    /// Reads `count` sectors starting at `sector`.
    func read(at sector: UInt64, count: Int) async throws -> [UInt8]
    /// Reads like ``read(at:count:)``, straight into `target` (exactly
    /// `count` sectors long), when that needs no waiting: everything is in
    /// memory or a local file. Returns false when it would wait, and the
    /// caller then uses ``read(at:count:)``. Serving a hit this way costs no
    /// task and no copy.
    func readImmediately(at sector: UInt64, count: Int, into target: UnsafeMutableRawBufferPointer) throws -> Bool
    /// Reads like ``readImmediately(at:count:into:)``; a read that lacks
    /// only what a read cache's filler brings also starts bringing it, with
    /// no task, and returns ``ImmediateRead/bringing(_:)``. `ready` is then
    /// called once, on whichever thread brought the bytes (perhaps before
    /// this returns): with success once the pending read may take them, or
    /// with the error that stopped them, which is the read's. It is never
    /// called for any other outcome.
    func readImmediately(
        at sector: UInt64, count: Int, into target: UnsafeMutableRawBufferPointer,
        orBring ready: @escaping @Sendable (Result<Void, any Error>) -> Void
    ) throws -> ImmediateRead
    /// Where the `count` sectors at `sector` lie whole in one open file, when
    /// the device could read them from there now; nil otherwise, and the
    /// caller reads them. A server sends a span with no copy of its own; the
    /// read counts as done once the caller calls ``FileSpan/sent()``.
    func fileSpan(at sector: UInt64, count: Int) -> FileSpan?
    /// Reads `count` sectors into `destination` (exactly that long),
    /// waiting for what must be fetched. A device whose misses become hits
    /// once their bytes arrive fills `destination` the way a hit does, with
    /// no copy between.
    func read(at sector: UInt64, count: Int, into destination: inout some ReadDestination) async throws
    /// Writes whole sectors starting at `sector`; with `fua`, durably when
    /// ``isFUARespected``.
    func write(_ bytes: ArraySlice<UInt8>, at sector: UInt64, fua: Bool) async throws
    /// Makes every completed write durable.
    func flush() async throws
    /// Tells the device that `count` sectors at `sector` are no longer needed.
    func unmap(at sector: UInt64, count: UInt64) async throws
}

extension BlockDevice {
    /// The device's sector size and count, for checking requests.
    public var geometry: SectorGeometry {
        SectorGeometry(sectorSize: sectorSize, sectorCount: sectorCount)
    }

    public var diskID: DiskID? { nil }
    public var optimalUnmapSectors: UInt32 { 1 }

    /// A device that does not say otherwise may always have to wait.
    public func readImmediately(at sector: UInt64, count: Int, into target: UnsafeMutableRawBufferPointer) throws -> Bool {
        false
    }

    /// A device that does not say otherwise has no filler to bring bytes
    /// without a task.
    public func readImmediately(
        at sector: UInt64, count: Int, into target: UnsafeMutableRawBufferPointer,
        orBring ready: @escaping @Sendable (Result<Void, any Error>) -> Void
    ) throws -> ImmediateRead {
        try readImmediately(at: sector, count: count, into: target) ? .read : .waits
    }

    /// A device that does not say otherwise has no file to send from.
    public func fileSpan(at sector: UInt64, count: Int) -> FileSpan? {
        nil
    }

    /// A device that does not say otherwise reads into an array of its own,
    /// which is then copied.
    public func read(at sector: UInt64, count: Int, into destination: inout some ReadDestination) async throws {
        let bytes = try await read(at: sector, count: count)
        destination.copy(from: bytes)
    }
}
