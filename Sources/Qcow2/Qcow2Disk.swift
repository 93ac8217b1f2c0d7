import LayeredDisk
import Synchronization

/// A qcow2 image read as the disk it holds, from a device holding the
/// qcow2 file's own bytes (lazydisk's cache over the HTTP image): L1, L2
/// tables and data clusters are read from it as any bytes are, so they are
/// fetched once, cached, and read ahead by the file's offsets.
///
/// Read-only: the RAM overlay above takes the guest's writes. Unallocated
/// and zero clusters read as zeros; compressed clusters are inflated once
/// and kept in a small cache, so a sequential reader inflates each once.
public final class Qcow2Disk: BlockDevice {
    public let header: Qcow2Header
    private let file: any BlockDevice
    private let fileSize: UInt64
    private let l1: [UInt64]
    private let decompressor: ClusterDecompressor
    private let l2Tables: RecentlyUsed<Int, [UInt64]>
    private let clusters: RecentlyUsed<UInt64, [UInt8]>

    /// Opens the image in `file`: reads and checks its header and L1 table.
    /// - Parameters:
    ///   - clusterCacheBytes: memory for inflated clusters.
    ///   - tableCacheBytes: memory for L2 tables (a cluster each).
    public init(file: any BlockDevice, clusterCacheBytes: Int = 8 << 20, tableCacheBytes: Int = 4 << 20) async throws {
        self.file = file
        fileSize = file.sectorCount * UInt64(file.sectorSize)
        let start = try await file.readBytes(0..<min(UInt64(Qcow2Header.readSize), fileSize))
        header = try Qcow2Header(start, fileSize: fileSize)
        let table = try await file.readBytes(header.l1TableOffset..<header.l1TableOffset + UInt64(header.l1Size) * 8)
        l1 = Self.entries(table)
        decompressor = ClusterDecompressor(compression: header.compression, clusterSize: header.clusterSize)
        l2Tables = RecentlyUsed(capacity: max(2, tableCacheBytes / header.clusterSize))
        clusters = RecentlyUsed(capacity: max(2, clusterCacheBytes / header.clusterSize))
    }

    public var sectorSize: Int { 512 }
    public var sectorCount: UInt64 { (header.size + 511) / 512 }
    public var physicalSectorSize: Int { 4096 }
    public var isFUARespected: Bool { false }
    public var isReadOnly: Bool { true }
    public var unmapBehavior: UnmapBehavior { .ignored }

    public func read(at sector: UInt64, count: Int) async throws -> [UInt8] {
        _ = try geometry.sectors(at: sector, count: count)
        let start = sector * 512
        var bytes = [UInt8](repeating: 0, count: count * 512)
        // The last sector of a size that is no multiple of 512 is padded
        // with zeros, not with whatever its cluster holds past the end.
        let end = min(start + UInt64(bytes.count), header.size)
        guard start < end else { return bytes }
        for piece in try await pieces(of: start..<end) {
            let at = Int(piece.guest.lowerBound - start)
            switch piece.source {
            case .zeros:
                break
            case let .file(offset):
                let data = try await file.readBytes(offset..<offset + UInt64(piece.guest.count))
                bytes.replaceSubrange(at..<at + data.count, with: data)
            case let .compressed(offset, length, within):
                let cluster = try await inflated(offset: offset, length: length)
                bytes.replaceSubrange(at..<at + piece.guest.count, with: cluster[within..<within + piece.guest.count])
            }
        }
        return bytes
    }

    public func write(_ bytes: ArraySlice<UInt8>, at sector: UInt64, fua: Bool) async throws {
        throw DiskError.readOnly
    }

    public func flush() async throws {}

    public func unmap(at sector: UInt64, count: UInt64) async throws {
        throw DiskError.readOnly
    }

    // MARK: Mapping

    /// A run of guest bytes and where they come from.
    struct Piece {
        enum Source {
            case zeros
            case file(UInt64)
            case compressed(offset: UInt64, length: Int, within: Int)
        }

        var guest: Range<UInt64>
        var source: Source
    }

    /// The pieces of `guest` (within the disk), cluster by cluster, with
    /// runs of neighbouring data clusters that are neighbours in the file
    /// joined into one read, and runs of zeros into one piece.
    func pieces(of guest: Range<UInt64>) async throws -> [Piece] {
        let clusterSize = UInt64(header.clusterSize)
        var pieces: [Piece] = []
        var offset = guest.lowerBound
        while offset < guest.upperBound {
            let cluster = offset / clusterSize
            let within = offset % clusterSize
            let end = min(guest.upperBound, (cluster + 1) * clusterSize)
            let source: Piece.Source = switch try await mapping(ofCluster: cluster) {
            case .unallocated, .zero: .zeros
            case let .standard(host): .file(host + within)
            case let .compressed(host, length): .compressed(offset: host, length: length, within: Int(within))
            }
            let piece = Piece(guest: offset..<end, source: source)
            if let last = pieces.last, let joined = Self.join(last, piece) {
                pieces[pieces.count - 1] = joined
            } else {
                pieces.append(piece)
            }
            offset = end
        }
        return pieces
    }

    private static func join(_ first: Piece, _ second: Piece) -> Piece? {
        switch (first.source, second.source) {
        case (.zeros, .zeros):
            return Piece(guest: first.guest.lowerBound..<second.guest.upperBound, source: .zeros)
        case let (.file(a), .file(b)) where a + UInt64(first.guest.count) == b:
            return Piece(guest: first.guest.lowerBound..<second.guest.upperBound, source: .file(a))
        default:
            return nil
        }
    }

    /// The L2 entry of guest cluster `cluster`, decoded.
    func mapping(ofCluster cluster: UInt64) async throws -> ClusterMapping {
        let l1Index = Int(cluster / UInt64(header.l2Entries))
        guard l1Index < l1.count,
              let tableOffset = try ClusterMapping.l2TableOffset(l1Entry: l1[l1Index], header: header, fileSize: fileSize)
        else { return .unallocated }
        let table: [UInt64]
        if let cached = l2Tables[l1Index] {
            table = cached
        } else {
            table = Self.entries(try await file.readBytes(tableOffset..<tableOffset + UInt64(header.clusterSize)))
            l2Tables[l1Index] = table
        }
        return try ClusterMapping(entry: table[Int(cluster % UInt64(header.l2Entries))], header: header, fileSize: fileSize)
    }

    /// Reports at most this many clusters at once, so a request over a huge
    /// disk reads a bounded number of L2 tables.
    static let allocationClusters: UInt64 = 8192

    private func inflated(offset: UInt64, length: Int) async throws -> [UInt8] {
        if let cluster = clusters[offset] {
            return cluster
        }
        let cluster = try decompressor.decompress(try await file.readBytes(offset..<offset + UInt64(length)))
        clusters[offset] = cluster
        return cluster
    }

    private static func entries(_ bytes: [UInt8]) -> [UInt64] {
        stride(from: 0, to: bytes.count - 7, by: 8).map { at in bytes[at..<at + 8].reduce(0) { $0 << 8 | UInt64($1) } }
    }
}

extension Qcow2Disk: AllocationMap {
    /// From the L2 tables: unallocated clusters are holes of zeros, zero
    /// clusters zeros, the rest data (compressed or not).
    public func allocation(of range: Range<UInt64>) async throws -> [AllocationExtent] {
        let clusterSize = UInt64(header.clusterSize)
        let end = min(range.upperBound, (range.lowerBound / clusterSize + Self.allocationClusters) * clusterSize)
        var extents: [AllocationExtent] = []
        var offset = range.lowerBound
        while offset < end {
            let cluster = offset / clusterSize
            let next = min(end, (cluster + 1) * clusterSize)
            let extent = switch try await mapping(ofCluster: cluster) {
            case .unallocated: AllocationExtent(length: next - offset, isHole: true, isZero: true)
            case .zero: AllocationExtent(length: next - offset, isHole: false, isZero: true)
            case .standard, .compressed: AllocationExtent(length: next - offset, isHole: false, isZero: false)
            }
            if let last = extents.last, last.isHole == extent.isHole, last.isZero == extent.isZero {
                extents[extents.count - 1].length += extent.length
            } else {
                extents.append(extent)
            }
            offset = next
        }
        return extents
    }
}
