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
    /// parallel over the client's connections.
    public static let largestRequest: UInt64 = 8 << 20

    public let image: RemoteImage
    public let format: ImageFormat
    /// Bytes of disk data in the object (excluding any VHD footer).
    public let contentSize: UInt64
    public let diskID: DiskID?

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

    public var layerType: String { "http" }
    public var sectorSize: Int { Self.logicalSectorSize }
    public var physicalSectorSize: Int { 4096 }
    public var sectorCount: UInt64 { (contentSize + UInt64(sectorSize) - 1) / UInt64(sectorSize) }
    public var isFUARespected: Bool { false }
    public var isLogicallyReadOnly: Bool { true }
    public var unmapBehavior: UnmapBehavior { .ignored }

    public func read(into buffer: inout SectorBuffer, marking marker: inout SectorMarker) async throws {
        let sectors = buffer.sectors
        let bytes = sectors.lowerBound * UInt64(sectorSize)..<min(sectors.upperBound * UInt64(sectorSize), contentSize)
        var data = try await fetch(bytes)
        data += repeatElement(0, count: sectors.count * sectorSize - data.count)
        buffer.copy(data[...], toSector: sectors.lowerBound)
        marker.markAll()
    }

    public func write(_ bytes: ArraySlice<UInt8>, at sector: UInt64, fua: Bool) async throws {
        throw DiskError.readOnly
    }

    public func flush() async throws {}

    public func unmap(at sector: UInt64, count: UInt64, nextIsZero: Bool) async throws {
        throw DiskError.readOnly
    }

    /// Fetches `bytes`, splitting a large range into parallel requests.
    private func fetch(_ bytes: Range<UInt64>) async throws -> [UInt8] {
        guard bytes.count > Self.largestRequest else {
            return try await image.read(bytes)
        }
        let pieces = stride(from: bytes.lowerBound, to: bytes.upperBound, by: Int(Self.largestRequest)).map {
            $0..<min($0 + Self.largestRequest, bytes.upperBound)
        }
        return try await withThrowingTaskGroup(of: (Int, [UInt8]).self) { group in
            for (index, piece) in pieces.enumerated() {
                group.addTask { (index, try await image.read(piece)) }
            }
            var parts = [[UInt8]](repeating: [], count: pieces.count)
            for try await (index, part) in group {
                parts[index] = part
            }
            return Array(parts.joined())
        }
    }
}
