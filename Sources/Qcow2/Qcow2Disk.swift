import LayeredDisk
import Synchronization

/// A qcow2 image read as the disk it holds, from a device holding the
/// qcow2 file's own bytes (lazydisk's cache over the HTTP image): L1, L2
/// tables and data clusters are read from it as any bytes are, so they are
/// fetched once, cached, and read ahead by the file's offsets.
///
/// Read-only: the RAM overlay above takes the guest's writes. Unallocated
/// and zero clusters read as zeros; compressed clusters are inflated once
/// (concurrent reads of one wait for the same inflation) and kept in a small
/// cache, so a sequential reader inflates each once. A read whose tables
/// and clusters the file answers without waiting (a warm cache) and that
/// needs no inflating is answered on the caller's thread, straight into the
/// caller's buffer. Inflating is left to ``read(at:count:)`` on the
/// concurrency pool, so it never holds up an event loop's other
/// connections, spreads over every core, and is shared by every reader.
public final class Qcow2Disk: BlockDevice {
    public let header: Qcow2Header
    private let file: any BlockDevice
    private let fileSize: UInt64
    private let l1: [UInt64]
    private let decompressor: ClusterDecompressor
    private let l2Tables: RecentlyUsed<Int, [UInt64]>
    private let clusters: RecentlyUsed<UInt64, [UInt8]>
    /// Inflations under way, by the compressed cluster's file offset.
    private let inflating = Mutex<[UInt64: Task<[UInt8], any Error>]>([:])

    /// Opens the image in `file`: reads and checks its header and L1 table.
    /// - Parameters:
    ///   - clusterCacheBytes: memory for inflated clusters.
    ///   - tableCacheBytes: memory for L2 tables (a cluster each).
    public init(file: any BlockDevice, clusterCacheBytes: Int = 4 << 20, tableCacheBytes: Int = 4 << 20) async throws {
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
        var bytes = [UInt8](repeating: 0, count: try geometry.sectors(at: sector, count: count).count * 512)
        try await read(at: sector, count: count, into: &bytes)
        return bytes
    }

    /// A read that waits for what it lacks (L2 tables, inflations, the
    /// file's bytes) piece by piece, and puts each piece straight into
    /// `destination`: no array of the whole read to zero, fill and copy
    /// again into a reply.
    public func read(at sector: UInt64, count: Int, into destination: inout some ReadDestination) async throws {
        _ = try geometry.sectors(at: sector, count: count)
        let start = sector * 512
        let end = min(start + UInt64(count * 512), header.size)
        // An empty read at the end of a size inside a sector starts past it.
        guard start < end else {
            destination.withUnsafeMutableBytes { $0.initializeMemory(as: UInt8.self, repeating: 0) }
            return
        }
        destination.withUnsafeMutableBytes { Self.zeroPastTheEnd(of: $0, readableBytes: Int(end - start)) }
        for piece in try await pieces(of: start..<end) {
            let at = Int(piece.guest.lowerBound - start)
            switch piece.source {
            case .zeros:
                destination.withUnsafeMutableBytes { Self.slice(of: $0, at: at, piece).initializeMemory(as: UInt8.self, repeating: 0) }
            case let .file(offset):
                let bytes = offset..<offset + UInt64(piece.guest.count)
                let answered = try destination.withUnsafeMutableBytes { try file.readBytesImmediately(bytes, into: Self.slice(of: $0, at: at, piece)) }
                if !answered {
                    let data = try await file.readBytes(bytes)
                    destination.withUnsafeMutableBytes { target in data.withUnsafeBytes { Self.slice(of: target, at: at, piece).copyMemory(from: $0) } }
                }
            case let .compressed(offset, length, within):
                let cluster = try await inflated(offset: offset, length: length)
                destination.withUnsafeMutableBytes { Self.copy(piece, at: within, of: cluster, into: Self.slice(of: $0, at: at, piece)) }
            }
        }
    }

    /// The read, when the file answers every table and cluster it needs
    /// without waiting and every compressed cluster it needs is inflated
    /// already; false otherwise (and `target` holds nothing of use).
    public func readImmediately(at sector: UInt64, count: Int, into target: UnsafeMutableRawBufferPointer) throws -> Bool {
        _ = try geometry.sectors(at: sector, count: count)
        let start = sector * 512
        // The last sector of a size that is no multiple of 512 is padded
        // with zeros, not with whatever its cluster holds past the end.
        let end = min(start + UInt64(count * 512), header.size)
        guard start < end, let pieces = try immediatePieces(of: start..<end) else {
            target.initializeMemory(as: UInt8.self, repeating: 0)
            return start >= end
        }
        Self.zeroPastTheEnd(of: target, readableBytes: Int(end - start))
        for piece in pieces {
            let slice = Self.slice(of: target, at: Int(piece.guest.lowerBound - start), piece)
            switch piece.source {
            case .zeros:
                slice.initializeMemory(as: UInt8.self, repeating: 0)
            case let .file(offset):
                guard try file.readBytesImmediately(offset..<offset + UInt64(piece.guest.count), into: slice) else { return false }
            case let .compressed(offset, _, within):
                guard let cluster = clusters[offset] else { return false }
                Self.copy(piece, at: within, of: cluster, into: slice)
            }
        }
        return true
    }

    /// The part of a read's target past the disk's end (the padding of a
    /// last sector that is no multiple of 512) reads as zeros, not as
    /// whatever its cluster holds there.
    private static func zeroPastTheEnd(of target: UnsafeMutableRawBufferPointer, readableBytes: Int) {
        guard readableBytes < target.count else { return }
        UnsafeMutableRawBufferPointer(rebasing: target[readableBytes...]).initializeMemory(as: UInt8.self, repeating: 0)
    }

    /// Where `piece` goes in a read's target, `at` bytes into it.
    private static func slice(of target: UnsafeMutableRawBufferPointer, at: Int, _ piece: Piece) -> UnsafeMutableRawBufferPointer {
        UnsafeMutableRawBufferPointer(rebasing: target[at..<at + piece.guest.count])
    }

    private static func copy(_ piece: Piece, at within: Int, of cluster: [UInt8], into slice: UnsafeMutableRawBufferPointer) {
        cluster[within..<within + piece.guest.count].withUnsafeBytes { slice.copyMemory(from: $0) }
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
        let first = guest.lowerBound / clusterSize
        var mappings: [ClusterMapping] = []
        for cluster in first...(guest.upperBound - 1) / clusterSize {
            mappings.append(try await mapping(ofCluster: cluster))
        }
        return pieces(of: guest) { mappings[Int($0 - first)] } ?? []
    }

    /// The pieces of `guest` when every L2 table they need is cached or
    /// read from the file without waiting; nil otherwise.
    private func immediatePieces(of guest: Range<UInt64>) throws -> [Piece]? {
        var failure: (any Error)?
        let pieces = pieces(of: guest) { cluster in
            do {
                return try immediateMapping(ofCluster: cluster)
            } catch {
                failure = error
                return nil
            }
        }
        if let failure { throw failure }
        return pieces
    }

    /// Cuts `guest` into pieces by the clusters' mappings; nil as soon as
    /// `mapping` gives none.
    private func pieces(of guest: Range<UInt64>, mapping: (UInt64) -> ClusterMapping?) -> [Piece]? {
        let clusterSize = UInt64(header.clusterSize)
        var pieces: [Piece] = []
        var offset = guest.lowerBound
        while offset < guest.upperBound {
            let cluster = offset / clusterSize
            let within = offset % clusterSize
            let end = min(guest.upperBound, (cluster + 1) * clusterSize)
            guard let clusterMapping = mapping(cluster) else { return nil }
            let source: Piece.Source = switch clusterMapping {
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
        guard let (l1Index, tableOffset) = try l2Table(ofCluster: cluster) else { return .unallocated }
        let table: [UInt64]
        if let cached = l2Tables[l1Index] {
            table = cached
        } else {
            table = Self.entries(try await file.readBytes(tableOffset..<tableOffset + UInt64(header.clusterSize)))
            l2Tables[l1Index] = table
        }
        return try entry(ofCluster: cluster, in: table)
    }

    /// The same, when the table is cached or the file answers without
    /// waiting; nil otherwise.
    private func immediateMapping(ofCluster cluster: UInt64) throws -> ClusterMapping? {
        guard let (l1Index, tableOffset) = try l2Table(ofCluster: cluster) else { return .unallocated }
        if let cached = l2Tables[l1Index] {
            return try entry(ofCluster: cluster, in: cached)
        }
        var bytes = [UInt8](repeating: 0, count: header.clusterSize)
        let tableBytes = tableOffset..<tableOffset + UInt64(header.clusterSize)
        guard try bytes.withUnsafeMutableBytes({ try file.readBytesImmediately(tableBytes, into: $0) }) else { return nil }
        let table = Self.entries(bytes)
        l2Tables[l1Index] = table
        return try entry(ofCluster: cluster, in: table)
    }

    /// Which L1 entry maps `cluster`, and where its L2 table is; nil when
    /// the cluster has no table (it is unallocated).
    private func l2Table(ofCluster cluster: UInt64) throws -> (l1Index: Int, offset: UInt64)? {
        let l1Index = Int(cluster / UInt64(header.l2Entries))
        guard l1Index < l1.count,
              let tableOffset = try ClusterMapping.l2TableOffset(l1Entry: l1[l1Index], header: header, fileSize: fileSize)
        else { return nil }
        return (l1Index, tableOffset)
    }

    private func entry(ofCluster cluster: UInt64, in table: [UInt64]) throws -> ClusterMapping {
        try ClusterMapping(entry: table[Int(cluster % UInt64(header.l2Entries))], header: header, fileSize: fileSize)
    }

    /// Reports at most this many clusters at once, so a request over a huge
    /// disk reads a bounded number of L2 tables.
    static let allocationClusters: UInt64 = 8192

    /// The compressed cluster at `offset`, inflated: from the cache, from
    /// an inflation under way, or by one this read starts for every reader.
    private func inflated(offset: UInt64, length: Int) async throws -> [UInt8] {
        if let cluster = clusters[offset] {
            return cluster
        }
        let inflation = inflating.withLock { inflating in
            if let running = inflating[offset] { return running }
            let started = Task { [self] in
                defer { _ = self.inflating.withLock { $0.removeValue(forKey: offset) } }
                let cluster = try decompressor.decompress(try await file.readBytes(offset..<offset + UInt64(length)))
                clusters[offset] = cluster
                return cluster
            }
            inflating[offset] = started
            return started
        }
        return try await inflation.value
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
