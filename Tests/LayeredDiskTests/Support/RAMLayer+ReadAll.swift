import LayeredDisk

extension RAMLayer {
    /// Reads sectors straight from the layer; absent sectors are zeros.
    func readAll(_ sectors: Range<UInt64>) async throws -> [UInt8] {
        var buffer = SectorBuffer(sectors: sectors, sectorSize: sectorSize)
        var marker = SectorMarker(sectors: sectors)
        try await read(into: &buffer, marking: &marker)
        return buffer.bytes
    }
}
