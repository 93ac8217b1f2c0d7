/// Why a block-device request was refused.
///
/// Every request that reaches a disk from outside (an NBD client, a command-line
/// argument) is checked against the disk's geometry first, so that bad input
/// becomes one of these errors instead of a trap deep inside a layer.
public enum DiskError: Error, Equatable, Sendable {
    /// The request covers sectors past the end of the disk, or `sector + count`
    /// does not fit in 64 bits.
    case outOfRange(sector: UInt64, count: UInt64, sectorCount: UInt64)
    /// A sector count that is negative.
    case invalidCount(Int)
    /// A buffer whose length is not a whole number of sectors.
    case unalignedLength(byteCount: Int, sectorSize: Int)
    /// A write, unmap or other change sent to a read-only disk or layer.
    case readOnly
    /// A write that would take a layer past the memory it may use.
    case noSpace(limitBytes: Int)
}

extension DiskError: CustomStringConvertible {
    public var description: String {
        switch self {
        case let .outOfRange(sector, count, sectorCount):
            "request for \(count) sectors at sector \(sector) is outside the disk's \(sectorCount) sectors"
        case let .invalidCount(count):
            "invalid sector count \(count)"
        case let .unalignedLength(byteCount, sectorSize):
            "buffer of \(byteCount) bytes is not a whole number of \(sectorSize)-byte sectors"
        case .readOnly:
            "the disk is read-only"
        case let .noSpace(limitBytes):
            "no space: the write would take the RAM overlay past its limit of \(limitBytes) bytes"
        }
    }
}
