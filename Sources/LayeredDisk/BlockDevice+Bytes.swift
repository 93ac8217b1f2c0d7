extension BlockDevice {
    /// The disk's size in bytes.
    public var byteCount: UInt64 { sectorCount * UInt64(sectorSize) }

    /// Reads an arbitrary byte range, whatever its alignment to sectors.
    public func readBytes(_ range: Range<UInt64>) async throws -> [UInt8] {
        let sectors = try coveringSectors(range)
        return trimmed(try await read(at: sectors.lowerBound, count: sectors.count), from: sectors, to: range)
    }

    /// Reads an arbitrary byte range when that needs no waiting; see
    /// ``BlockDevice/readImmediately(at:count:)``.
    public func readBytesImmediately(_ range: Range<UInt64>) throws -> [UInt8]? {
        let sectors = try coveringSectors(range)
        return try readImmediately(at: sectors.lowerBound, count: sectors.count).map { trimmed($0, from: sectors, to: range) }
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

    /// The bytes of `range` out of the bytes of whole `sectors`.
    private func trimmed(_ bytes: [UInt8], from sectors: Range<UInt64>, to range: Range<UInt64>) -> [UInt8] {
        let start = Int(range.lowerBound - sectors.lowerBound * UInt64(sectorSize))
        guard start != 0 || bytes.count != range.count else { return bytes }
        return Array(bytes[start..<start + range.count])
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
