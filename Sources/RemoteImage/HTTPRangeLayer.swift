import LayeredDisk

/// The bottom layer of every lazydisk stack: a read-only disk whose sectors
/// come from a ``RemoteImage`` by HTTP range requests. Every sector is present.
///
/// A raw image whose size is not a whole number of sectors is rounded up: the
/// last sector is padded with zeros, so no byte of the image is hidden. A
/// fixed VHD exposes its footer's current size and unique id, never the footer.
public struct HTTPRangeLayer: DiskLayer {
    public static let logicalSectorSize = 512
    /// Reads larger than this are split into requests of this size, sent in
    /// parallel over the client's connections. A multiple of the sector size.
    public static let largestRequest: UInt64 = 8 << 20

    public let image: RemoteImage
    public let format: ImageFormat
    /// Bytes of disk data in the object (excluding any VHD footer).
    public let contentSize: UInt64
    public let diskID: DiskID?
    /// Where whole chunks fetched around a miss are kept, if anywhere.
    public private(set) var chunkStore: (any ChunkStore)?

    /// Wraps an opened image. With `format` nil, a valid VHD cookie in the last
    /// 512 bytes selects ``ImageFormat/vhd``, anything else ``ImageFormat/raw``.
    public static func open(_ image: RemoteImage, format: ImageFormat? = nil) async throws -> HTTPRangeLayer {
        let size = image.identity.size
        let footer = size >= UInt64(VHDFooter.size) && format != .raw
            ? try await image.read(size - UInt64(VHDFooter.size)..<size)
            : []
        guard format == .vhd || (format == nil && VHDFooter.isPresent(in: footer)) else {
            return HTTPRangeLayer(image: image, format: .raw, contentSize: size, diskID: nil)
        }
        let parsed = try VHDFooter(bytes: footer)
        let dataSize = size - UInt64(VHDFooter.size)
        guard parsed.currentSize <= dataSize else {
            throw VHDFooterError.sizeBeyondFile(currentSize: parsed.currentSize, dataSize: dataSize)
        }
        return HTTPRangeLayer(image: image, format: .vhd, contentSize: parsed.currentSize, diskID: parsed.uniqueID)
    }

    /// This layer with reads rounded out to `store`'s chunks, the whole
    /// chunks stored there: a small read still leaves its chunk cached.
    public func fillingChunks(of store: any ChunkStore) -> HTTPRangeLayer {
        var layer = self
        layer.chunkStore = store
        return layer
    }

    public var layerType: String { "http" }
    public var sectorSize: Int { Self.logicalSectorSize }
    public var physicalSectorSize: Int { 4096 }
    public var sectorCount: UInt64 { (contentSize + UInt64(sectorSize) - 1) / UInt64(sectorSize) }
    public var isFUARespected: Bool { false }
    public var isLogicallyReadOnly: Bool { true }
    public var unmapBehavior: UnmapBehavior { .ignored }

    public func read(into buffer: inout SectorBuffer, marking marker: inout SectorMarker) async throws {
        guard let chunkStore else {
            try await fetch(into: &buffer)
            marker.markAll()
            return
        }
        let chunkSectors = UInt64(chunkStore.chunkBytes / sectorSize)
        let wanted = buffer.sectors
        let whole = wanted.lowerBound / chunkSectors * chunkSectors
            ..< min((wanted.upperBound + chunkSectors - 1) / chunkSectors * chunkSectors, sectorCount)
        var chunks = SectorBuffer(sectors: whole, sectorSize: sectorSize)
        try await fetch(into: &chunks)
        // A failed store is reported by the stack's own fill of the same sectors.
        try? await chunkStore.writeNoOverwrite(chunks.bytes[...], at: whole.lowerBound)
        buffer.copy(chunks[wanted], toSector: wanted.lowerBound)
        marker.markAll()
    }

    /// Fetches the sectors `buffer` is focused on, in parallel pieces of at
    /// most ``largestRequest`` bytes.
    private func fetch(into buffer: inout SectorBuffer) async throws {
        let sectorBytes = UInt64(sectorSize)
        let sectors = buffer.sectors
        let bytes = sectors.lowerBound * sectorBytes..<min(sectors.upperBound * sectorBytes, contentSize)
        let pieces = stride(from: bytes.lowerBound, to: bytes.upperBound, by: Int(Self.largestRequest)).map {
            $0..<min($0 + Self.largestRequest, bytes.upperBound)
        }
        try await withThrowingTaskGroup(of: (UInt64, [UInt8]).self) { group in
            for piece in pieces {
                group.addTask { (piece.lowerBound, try await image.read(piece)) }
            }
            for try await (offset, data) in group {
                // Only the object's last piece can end inside a sector; the
                // buffer already holds zeros for the rest of it.
                let whole = data.count / sectorSize * sectorSize
                buffer.copy(data[..<whole], toSector: offset / sectorBytes)
                if whole < data.count {
                    var tail = [UInt8](repeating: 0, count: sectorSize)
                    tail.replaceSubrange(0..<data.count - whole, with: data[whole...])
                    buffer.copy(tail[...], toSector: (offset + UInt64(whole)) / sectorBytes)
                }
            }
        }
    }

    public func write(_ bytes: ArraySlice<UInt8>, at sector: UInt64, fua: Bool) async throws {
        throw DiskError.readOnly
    }

    public func flush() async throws {}

    public func unmap(at sector: UInt64, count: UInt64, nextIsZero: Bool) async throws {
        throw DiskError.readOnly
    }
}
