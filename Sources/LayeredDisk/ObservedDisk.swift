/// A block device that shows every read to observers, then passes every
/// request to the device underneath unchanged.
public struct ObservedDisk<Base: BlockDevice>: BlockDevice {
    public let base: Base
    public let observers: [any ReadObserver]

    public init(_ base: Base, observers: [any ReadObserver]) {
        self.base = base
        self.observers = observers
    }

    public var sectorSize: Int { base.sectorSize }
    public var sectorCount: UInt64 { base.sectorCount }
    public var diskID: DiskID? { base.diskID }
    public var physicalSectorSize: Int { base.physicalSectorSize }
    public var isFUARespected: Bool { base.isFUARespected }
    public var isReadOnly: Bool { base.isReadOnly }
    public var unmapBehavior: UnmapBehavior { base.unmapBehavior }
    public var optimalUnmapSectors: UInt32 { base.optimalUnmapSectors }

    public func read(at sector: UInt64, count: Int) async throws -> [UInt8] {
        let bytes = observeRead(at: sector, count: count)
        let data = try await base.read(at: sector, count: count)
        finishRead(bytes)
        return data
    }

    /// A read given to `destination` as a span finishes once the span is
    /// sent; any other once it has its bytes.
    public func read(at sector: UInt64, count: Int, into destination: inout some ReadDestination) async throws {
        let bytes = observeRead(at: sector, count: count)
        // Moved, not copied: a destination sharing its memory with a copy
        // (a reply's buffer) would copy it all on its first write.
        var observed = FinishingDestination(consume destination) { [self] in finishRead(bytes) }
        defer { destination = observed.destination }
        try await base.read(at: sector, count: count, into: &observed)
        if !observed.tookSpan {
            finishRead(bytes)
        }
    }

    /// Shows the read only when it is served here: one that returns false
    /// comes back through ``read(at:count:)`` and is shown there.
    public func readImmediately(at sector: UInt64, count: Int, into target: UnsafeMutableRawBufferPointer) throws -> Bool {
        guard try base.readImmediately(at: sector, count: count, into: target) else { return false }
        finishRead(observeRead(at: sector, count: count))
        return true
    }

    /// Shows a read that is brought without a task as it starts, as a read
    /// that waits is shown; it finishes once the pending read has its bytes.
    /// One the pending read cannot take comes back through
    /// ``read(at:count:into:)`` and is shown there again.
    public func readImmediately(
        at sector: UInt64, count: Int, into target: UnsafeMutableRawBufferPointer,
        orBring ready: @escaping @Sendable (Result<Void, any Error>) -> Void
    ) throws -> ImmediateRead {
        switch try base.readImmediately(at: sector, count: count, into: target, orBring: ready) {
        case .read:
            finishRead(observeRead(at: sector, count: count))
            return .read
        case .waits:
            return .waits
        case let .bringing(pending):
            let bytes = observeRead(at: sector, count: count)
            return .bringing(pending.finishing { [self] in finishRead(bytes) })
        }
    }

    /// Shows the read when the base gives a span; it finishes once the span
    /// is sent, so nothing lets go of its bytes before they left the file.
    public func fileSpan(at sector: UInt64, count: Int) -> FileSpan? {
        guard let span = base.fileSpan(at: sector, count: count) else { return nil }
        let bytes = observeRead(at: sector, count: count)
        return span.whenSent { [self] in finishRead(bytes) }
    }

    public func write(_ bytes: ArraySlice<UInt8>, at sector: UInt64, fua: Bool) async throws {
        try await base.write(bytes, at: sector, fua: fua)
    }

    public func flush() async throws {
        try await base.flush()
    }

    public func unmap(at sector: UInt64, count: UInt64) async throws {
        try await base.unmap(at: sector, count: count)
    }

    /// Shows the observers a read; returns the bytes it covers on the disk,
    /// none when it lies past the end.
    private func observeRead(at sector: UInt64, count: Int) -> Range<UInt64>? {
        guard count > 0, sector < sectorCount else { return nil }
        let size = UInt64(sectorSize)
        let end = sectorCount - sector > UInt64(count) ? sector + UInt64(count) : sectorCount
        let bytes = sector * size..<end * size
        for observer in observers {
            observer.observeRead(bytes)
        }
        return bytes
    }

    private func finishRead(_ bytes: Range<UInt64>?) {
        guard let bytes else { return }
        for observer in observers {
            observer.readFinished(bytes)
        }
    }
}

/// A read's destination that has a span it takes finish the read once sent.
private struct FinishingDestination<Destination: ReadDestination>: ReadDestination {
    var destination: Destination
    let finish: @Sendable () -> Void
    private(set) var tookSpan = false

    init(_ destination: Destination, finish: @escaping @Sendable () -> Void) {
        self.destination = destination
        self.finish = finish
    }

    var takesFileSpans: Bool { destination.takesFileSpans }

    mutating func take(_ span: FileSpan) -> Bool {
        tookSpan = destination.take(span.whenSent(finish))
        return tookSpan
    }

    mutating func withUnsafeMutableBytes<Result>(_ body: (UnsafeMutableRawBufferPointer) throws -> Result) rethrows -> Result {
        try destination.withUnsafeMutableBytes(body)
    }
}
