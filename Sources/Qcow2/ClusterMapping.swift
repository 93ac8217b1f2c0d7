/// Where one guest cluster's bytes are, as its L2 entry says.
enum ClusterMapping: Sendable, Equatable {
    /// Never written: reads as zeros (there is no backing file).
    case unallocated
    /// Written as zeros (version 3's zero flag).
    case zero
    /// The cluster's bytes as they are, at this offset of the file.
    case standard(UInt64)
    /// Compressed, in `length` bytes at `offset` of the file.
    case compressed(offset: UInt64, length: Int)

    /// Bits 9 to 55: a host offset in a standard L1 or L2 entry.
    static let offsetMask: UInt64 = 0x00FF_FFFF_FFFF_FE00

    /// Decodes an L2 entry of an image with `header` in a file of
    /// `fileSize` bytes; an entry that points outside the file is corrupt.
    init(entry: UInt64, header: Qcow2Header, fileSize: UInt64) throws {
        let clusterSize = UInt64(header.clusterSize)
        if entry & (1 << 62) != 0 {
            let offsetBits = 62 - (UInt64(header.clusterBits) - 8)
            let offset = entry & ((1 << offsetBits) - 1)
            let sectors = (entry >> offsetBits) & ((1 << (UInt64(header.clusterBits) - 8)) - 1) + 1
            guard offset < fileSize else {
                throw Qcow2Error.corrupt("a compressed cluster's entry points past the end of the file (\(offset) of \(fileSize) bytes)")
            }
            // The sector count rounds up; the last cluster may end before it.
            let length = min(sectors * 512 - (offset & 511), fileSize - offset)
            self = .compressed(offset: offset, length: Int(length))
            return
        }
        if header.version == 3 && entry & 1 != 0 {
            self = .zero
            return
        }
        let offset = entry & Self.offsetMask
        guard offset != 0 else {
            self = .unallocated
            return
        }
        guard offset % clusterSize == 0, offset <= fileSize, clusterSize <= fileSize - offset else {
            throw Qcow2Error.corrupt("a data cluster's entry points past the end of the file (\(offset) of \(fileSize) bytes)")
        }
        self = .standard(offset)
    }

    /// Decodes an L1 entry: the offset of its L2 table, or nil when none
    /// was ever allocated (every cluster it covers reads as zeros).
    static func l2TableOffset(l1Entry entry: UInt64, header: Qcow2Header, fileSize: UInt64) throws -> UInt64? {
        let offset = entry & offsetMask
        guard offset != 0 else { return nil }
        let clusterSize = UInt64(header.clusterSize)
        guard offset % clusterSize == 0, offset <= fileSize, clusterSize <= fileSize - offset else {
            throw Qcow2Error.corrupt("an L2 table's entry points past the end of the file (\(offset) of \(fileSize) bytes)")
        }
        return offset
    }
}
