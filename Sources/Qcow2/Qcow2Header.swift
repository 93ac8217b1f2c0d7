/// The fixed part of a qcow2 header (versions 2 and 3), checked for what
/// this reader supports: every feature that would change how bytes map is
/// refused by name rather than misread.
public struct Qcow2Header: Sendable, Equatable {
    public enum Compression: String, Sendable {
        case deflate
        case zstd
    }

    public let version: UInt32
    public let clusterBits: UInt32
    /// The virtual disk's size in bytes.
    public let size: UInt64
    public let l1Size: Int
    public let l1TableOffset: UInt64
    public let compression: Compression

    public var clusterSize: Int { 1 << Int(clusterBits) }
    /// Entries in one L2 table (one cluster of 8-byte entries).
    public var l2Entries: Int { clusterSize / 8 }

    /// The first four bytes of every qcow2 file: "QFI\xfb".
    public static let magic: [UInt8] = [0x51, 0x46, 0x49, 0xFB]
    /// Enough of the file's start for any header this reader accepts.
    public static let readSize = 4096
    /// The largest virtual disk, as for raw images: 1 EiB, far beyond any
    /// disk, and far from where sector arithmetic could overflow.
    public static let largestSize: UInt64 = 1 << 60
    /// The largest L1 table, in bytes, as qemu allows (QCOW_MAX_L1_SIZE):
    /// it is read whole at open, so its size must not be the file's to set.
    public static let largestL1Bytes = 32 << 20

    public static func isPresent(in bytes: some Collection<UInt8>) -> Bool {
        bytes.starts(with: magic)
    }

    /// Parses the header at the start of a file of `fileSize` bytes.
    public init(_ bytes: [UInt8], fileSize: UInt64) throws {
        guard bytes.count >= 72, Self.isPresent(in: bytes) else { throw Qcow2Error.corrupt("no qcow2 header") }
        func u32(_ at: Int) -> UInt32 { bytes[at..<at + 4].reduce(0) { $0 << 8 | UInt32($1) } }
        func u64(_ at: Int) -> UInt64 { bytes[at..<at + 8].reduce(0) { $0 << 8 | UInt64($1) } }

        version = u32(4)
        guard version == 2 || version == 3 else { throw Qcow2Error.unsupported("version \(version) of the format") }
        if u64(8) != 0 {
            throw Qcow2Error.unsupported("a backing file (convert it to a standalone image: qemu-img convert -O qcow2)")
        }
        clusterBits = u32(20)
        guard (9...21).contains(clusterBits) else { throw Qcow2Error.corrupt("cluster size 2^\(clusterBits)") }
        size = u64(24)
        guard size <= Self.largestSize else {
            throw Qcow2Error.unsupported("a virtual size of \(size) bytes (lazydisk serves disks of at most \(Self.largestSize) bytes, 1 EiB)")
        }
        if u32(32) != 0 {
            throw Qcow2Error.unsupported("encryption")
        }
        let l1 = u32(36)
        guard UInt64(l1) * 8 <= Self.largestL1Bytes else {
            throw Qcow2Error.corrupt("an L1 table of \(UInt64(l1) * 8) bytes (qemu allows at most 32 MiB)")
        }
        l1TableOffset = u64(40)
        let clusterSize = UInt64(1) << UInt64(clusterBits)
        let l2Entries = clusterSize / 8
        let clustersNeeded = size / clusterSize + (size % clusterSize == 0 ? 0 : 1)
        guard UInt64(l1) >= (clustersNeeded + l2Entries - 1) / l2Entries, UInt64(l1) <= fileSize / 8,
              l1TableOffset % clusterSize == 0, l1TableOffset <= fileSize, UInt64(l1) * 8 <= fileSize - l1TableOffset
        else {
            throw Qcow2Error.corrupt("the L1 table (\(l1) entries at \(l1TableOffset)) does not fit the disk or the file")
        }
        l1Size = Int(l1)

        var compression = Compression.deflate
        if version == 3 {
            guard bytes.count >= 104 else { throw Qcow2Error.corrupt("a version 3 header shorter than 104 bytes") }
            let incompatible = u64(72)
            let known: [(bit: UInt64, name: String)] = [
                (0, "the dirty bit (it was not closed cleanly; qemu-img check -r all repairs it)"),
                (1, "the corrupt bit"), (2, "an external data file"), (4, "extended L2 entries"),
            ]
            for feature in known where incompatible & (1 << feature.bit) != 0 {
                throw Qcow2Error.unsupported(feature.name)
            }
            if incompatible & ~UInt64(0b11111) != 0 {
                throw Qcow2Error.unsupported("unknown incompatible features (0x\(String(incompatible, radix: 16)))")
            }
            if incompatible & (1 << 3) != 0 {
                let headerLength = u32(100)
                guard headerLength > 104, bytes.count > 104 else { throw Qcow2Error.corrupt("a compression type outside the header") }
                switch bytes[104] {
                case 0: compression = .deflate
                case 1: compression = .zstd
                default: throw Qcow2Error.unsupported("compression type \(bytes[104])")
                }
            }
        }
        self.compression = compression
    }
}
