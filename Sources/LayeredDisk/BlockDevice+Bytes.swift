extension BlockDevice {
    /// The disk's size in bytes.
    public var byteCount: UInt64 { sectorCount * UInt64(sectorSize) }

    /// Reads an arbitrary byte range, whatever its alignment to sectors.
    public func readBytes(_ range: Range<UInt64>) async throws -> [UInt8] {
        let sectors = try coveringSectors(range)
        let bytes = try await read(at: sectors.lowerBound, count: sectors.count)
        let start = Int(range.lowerBound - sectors.lowerBound * UInt64(sectorSize))
        guard start != 0 || bytes.count != range.count else { return bytes }
        return Array(bytes[start..<start + range.count])
    }

    /// Reads an arbitrary byte range into `destination` (exactly as long),
    /// waiting for what must be fetched. Sector-aligned ranges, what clients
    /// send, are read straight into `destination`.
    public func readBytes(_ range: Range<UInt64>, into destination: inout some ReadDestination) async throws {
        let sectors = try coveringSectors(range)
        guard range.lowerBound != sectors.lowerBound * UInt64(sectorSize) || sectors.count * sectorSize != range.count else {
            return try await read(at: sectors.lowerBound, count: sectors.count, into: &destination)
        }
        let bytes = try await readBytes(range)
        destination.copy(from: bytes)
    }

    /// Reads an arbitrary byte range into `target` when that needs no
    /// waiting; see ``BlockDevice/readImmediately(at:count:into:)``. Sector
    /// aligned ranges, what clients send, go straight into `target`.
    public func readBytesImmediately(_ range: Range<UInt64>, into target: UnsafeMutableRawBufferPointer) throws -> Bool {
        precondition(target.count == range.count, "\(target.count) bytes of room for \(range.count)")
        let sectors = try coveringSectors(range)
        let start = Int(range.lowerBound - sectors.lowerBound * UInt64(sectorSize))
        guard start != 0 || sectors.count * sectorSize != range.count else {
            return try readImmediately(at: sectors.lowerBound, count: sectors.count, into: target)
        }
        var whole = [UInt8](repeating: 0, count: sectors.count * sectorSize)
        guard try whole.withUnsafeMutableBytes({ try readImmediately(at: sectors.lowerBound, count: sectors.count, into: $0) }) else {
            return false
        }
        whole.withUnsafeBytes { target.copyMemory(from: UnsafeRawBufferPointer(rebasing: $0[start..<start + range.count])) }
        return true
    }

    /// Reads an arbitrary byte range into `target`, or starts bringing what
    /// it lacks; see ``BlockDevice/readImmediately(at:count:into:orBring:)``.
    /// Only sector-aligned ranges, what clients send, are brought that way.
    public func readBytesImmediately(
        _ range: Range<UInt64>, into target: UnsafeMutableRawBufferPointer,
        orBring ready: @escaping @Sendable (Result<Void, any Error>) -> Void
    ) throws -> ImmediateRead {
        precondition(target.count == range.count, "\(target.count) bytes of room for \(range.count)")
        let sectors = try coveringSectors(range)
        guard range.lowerBound == sectors.lowerBound * UInt64(sectorSize), sectors.count * sectorSize == range.count else {
            return try readBytesImmediately(range, into: target) ? .read : .waits
        }
        return try readImmediately(at: sectors.lowerBound, count: sectors.count, into: target, orBring: ready)
    }

    /// The span of a sector-aligned byte range (what clients send); see
    /// ``BlockDevice/fileSpan(at:count:)``. Nil for any other range.
    public func fileSpan(of range: Range<UInt64>) -> FileSpan? {
        let size = UInt64(sectorSize)
        guard range.lowerBound % size == 0, range.count % sectorSize == 0, let sectors = try? coveringSectors(range) else { return nil }
        return fileSpan(at: sectors.lowerBound, count: sectors.count)
    }

    /// Writes at an arbitrary byte offset. Partial sectors at either end are
    /// read, patched and written back whole, so an unaligned write is not
    /// atomic against a concurrent write to the same sectors.
    public func writeBytes(_ bytes: ArraySlice<UInt8>, at offset: UInt64, fua: Bool) async throws {
        let size = UInt64(sectorSize)
        let range = offset..<offset + UInt64(bytes.count)
        if offset % size == 0 && bytes.count % sectorSize == 0 {
            try await write(bytes, at: offset / size, fua: fua)
            return
        }
        let sectors = try coveringSectors(range)
        var merged = try await read(at: sectors.lowerBound, count: sectors.count)
        let start = Int(offset - sectors.lowerBound * size)
        merged.replaceSubrange(start..<start + bytes.count, with: bytes)
        try await write(merged[...], at: sectors.lowerBound, fua: fua)
    }

    /// The whole sectors that hold `range`, checked against the disk.
    private func coveringSectors(_ range: Range<UInt64>) throws -> Range<UInt64> {
        let size = UInt64(sectorSize)
        guard range.upperBound <= byteCount else {
            throw DiskError.outOfRange(sector: range.lowerBound / size, count: UInt64(range.count) / size + 1, sectorCount: sectorCount)
        }
        return range.lowerBound / size..<(range.upperBound + size - 1) / size
    }
}
